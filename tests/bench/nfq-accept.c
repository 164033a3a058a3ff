/*
 * nfq-accept.c - the benchmark's C reference (tests/bench/run.sh): the
 * least a user-space conntrack helper can do. It binds one NFQUEUE with
 * NFQA_CFG_F_CONNTRACK (so every packet comes with its conntrack, as a
 * helper's does), copies whole packets, and accepts each one.
 *
 *   nfq-accept QUEUE [HELPER udp|tcp]
 *
 * With HELPER, it first enables that IPv4 user-space helper on QUEUE: `nfct
 * add helper HELPER inet udp` creates it (with the policy of conntrackd's
 * ct_helper_HELPER.so) but disabled, and conntrackd would enable it.
 *
 * Build: cc -O2 -o nfq-accept nfq-accept.c -lnetfilter_queue -lmnl
 * (Debian: libnetfilter-queue-dev, libmnl-dev). Stops on SIGTERM or SIGINT
 * and prints "verdicts N".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_cthelper.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

static volatile sig_atomic_t stop;
static unsigned long verdicts;

static void on_signal(int sig) { (void)sig; stop = 1; }

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg,
		     struct nfq_data *nfa, void *data)
{
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);

	(void)msg;
	(void)data;
	if (ph == NULL)
		return -1;
	verdicts++;
	return nfq_set_verdict(qh, ntohl(ph->packet_id), NF_ACCEPT, 0, NULL);
}

/* enable_helper sends NFNL_MSG_CTHELPER_NEW without NLM_F_CREATE: an
 * update of the helper name/AF_INET/l4 to status enabled on queue. */
static int enable_helper(const char *name, const char *l4, unsigned int queue)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	struct nlattr *tuple;
	unsigned int seq = time(NULL);
	int ret;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTHELPER << 8) | NFNL_MSG_CTHELPER_NEW;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_INET;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	mnl_attr_put_strz(nlh, NFCTH_NAME, name);
	tuple = mnl_attr_nest_start(nlh, NFCTH_TUPLE);
	mnl_attr_put_u16(nlh, NFCTH_TUPLE_L3PROTONUM, htons(AF_INET));
	mnl_attr_put_u8(nlh, NFCTH_TUPLE_L4PROTONUM,
			strcmp(l4, "tcp") == 0 ? IPPROTO_TCP : IPPROTO_UDP);
	mnl_attr_nest_end(nlh, tuple);
	mnl_attr_put_u32(nlh, NFCTH_QUEUE_NUM, htonl(queue));
	mnl_attr_put_u32(nlh, NFCTH_STATUS, htonl(NFCT_HELPER_STATUS_ENABLED));

	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (nl == NULL || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	ret = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (ret > 0)
		ret = mnl_cb_run(buf, ret, seq, mnl_socket_get_portid(nl), NULL, NULL);
	mnl_socket_close(nl);
	return ret < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct nfq_handle *h;
	struct nfq_q_handle *qh;
	struct sigaction sa = { .sa_handler = on_signal };
	char buf[65536 + 4096];
	int fd, n;

	if (argc != 2 && argc != 4) {
		fprintf(stderr, "usage: nfq-accept QUEUE [HELPER udp|tcp]\n");
		return 2;
	}
	if (argc == 4 && enable_helper(argv[2], argv[3], atoi(argv[1])) < 0) {
		perror("enabling the helper (create it first: nfct add helper NAME inet udp|tcp)");
		return 1;
	}
	h = nfq_open();
	if (h == NULL) {
		perror("nfq_open");
		return 1;
	}
	qh = nfq_create_queue(h, atoi(argv[1]), on_packet, NULL);
	if (qh == NULL) {
		perror("nfq_create_queue");
		return 1;
	}
	if (nfq_set_mode(qh, NFQNL_COPY_PACKET, 0xffff) < 0 ||
	    nfq_set_queue_flags(qh, NFQA_CFG_F_CONNTRACK, NFQA_CFG_F_CONNTRACK) < 0) {
		perror("configuring the queue");
		return 1;
	}
	/* No SA_RESTART: a signal ends the blocking recv. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fd = nfq_fd(h);
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR || errno == ENOBUFS)
				continue;
			perror("recv");
			break;
		}
		nfq_handle_packet(h, buf, n);
	}
	printf("verdicts %lu\n", verdicts);
	nfq_destroy_queue(qh);
	nfq_close(h);
	return 0;
}
