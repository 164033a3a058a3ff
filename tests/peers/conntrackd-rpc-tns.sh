#!/usr/bin/env bash
# tests/peers/conntrackd-rpc-tns.sh - conntrackd's user-space RPC and TNS
# helpers (Debian's conntrackd in cthelper mode: ct_helper_rpc.so,
# ct_helper_tns.so) and ctlua's twins (scripts/rpc, scripts/tns) on the
# same traffic, on a real kernel: the expectations each creates, compared.
#
# Topology, servers, flows and firewall are those of tests/e2e/rpc-tns.sh
# (tests/e2e/rpc-tns-lib.sh): the real rpcbind, rpc.statd, sm-notify and
# rpcinfo, the scripted pmap.py and tns.py peers, through a firewall that
# forwards new connections only to ports 111 and 1521. The scenarios run
# twice, first with conntrackd as the helper, then with ctlua; each
# scenario's [NEW] events of `conntrack -E expect` in the firewall are
# normalised (the master's ports and the remaining time left out: the
# client's source ports differ between the runs) and compared.
#
# PASS for a scenario when ctlua created every expectation conntrackd
# created (ctlua may create more: the differences are listed, and the
# helpers' READMEs say why), and in both runs the client got the answer
# to its lookup (otherwise the comparison is inconclusive, and fails). A table ends the output: per scenario, per
# helper, whether the data connection passed and how many expectations.
#
# Usage (root; the host kernel lacks nfnetlink_cthelper, so it runs in the VM):
#   CTLUA_BIN=/tmp/ctlua tests/peers/conntrackd-rpc-tns.sh   runs itself in
#                                  tests/vm/run.sh (which installs conntrackd,
#                                  nfct, rpcbind, nfs-common on the host)
#   CTLUA_PEERS_LOGDIR=DIR ...     keep the raw logs and the captures of both
#                                  runs (ctlua.pcap, conntrackd.pcap) in DIR
#
# Exit status: 0 when ctlua created at least conntrackd's expectations in
# every scenario, 1 when not, 2 when the set-up failed (last line: why).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SELF=$HERE/$(basename "$0")
ROOT=$(cd "$HERE/../.." && pwd)
setup_fail() { echo "SETUP FAILED: $*"; exit 2; }
CTLUA=${CTLUA_BIN:-}
[[ -n $CTLUA && -x $CTLUA ]] || setup_fail "set CTLUA_BIN to the ctlua binary"

if [[ ${CTLUA_VM_GUEST:-} != 1 ]]; then
  [[ $(id -u) == 0 ]] || setup_fail "run as root (apt-get, qemu)"
  if [[ -n ${CTLUA_PEERS_LOGDIR:-} ]]; then
    mkdir -p "$CTLUA_PEERS_LOGDIR"; CTLUA_PEERS_LOGDIR=$(cd "$CTLUA_PEERS_LOGDIR" && pwd)
    export CTLUA_PEERS_LOGDIR CTLUA_VM_RWDIRS=${CTLUA_VM_RWDIRS:+$CTLUA_VM_RWDIRS:}$CTLUA_PEERS_LOGDIR
  fi
  export CTLUA_BIN CTLUA_VM_TIMEOUT=${CTLUA_VM_TIMEOUT:-600}
  exec "$ROOT/tests/vm/run.sh" bash "$SELF" "$@"
fi

# =========================== in the guest (root) ===================================
NS=prt$$
CLI=$NS-cli FW=$NS-fw SRV=$NS-srv NSES="$CLI $FW $SRV"
W=$(mktemp -d /tmp/ctlua-peers-rpctns.XXXXXX)
. "$ROOT/tests/e2e/lib.sh"
. "$E2E/rpc-tns-lib.sh"
on_failure() { [[ -n ${CTLUA_PEERS_LOGDIR:-} ]] && cp -r "$W"/. "$CTLUA_PEERS_LOGDIR/" 2>/dev/null; }
for t in conntrackd nfct ip nft conntrack rpcbind rpc.statd sm-notify rpcinfo tcpdump $PY timeout unshare; do
  command -v "$t" >/dev/null || setup_fail "missing $t (apt-get install conntrackd nfct rpcbind nfs-common tcpdump python3 on the HOST)"
done
for h in rpc tns; do need_helper_kernel $h; done
topology "$CLI" "$FW" "$SRV"
rpc_tns_servers || setup_fail "the servers did not start: $(tail -3 "$W/rpc-servers.log" "$W/tns4.log")"

# HELPERS: the kernel helpers both peers register (name family l4 queue).
HELPERS=("rpc inet tcp 0" "rpc inet udp 1" "rpc inet6 tcp 2" "rpc inet6 udp 3" "tns inet tcp 4" "tns inet6 tcp 5")

# conntrackd_start: its configuration, the helper stubs (conntrackd 1.4.7
# cannot create a helper without NFCTH_PRIV_DATA_LEN: tests/peers/README.md),
# then the daemon; it waits until it serves.
conntrackd_start() {
  local h
  { cat <<EOF
General {
	Systemd off
	LogFile $W/conntrackd.log
	LockFile $W/conntrackd.lock
	UNIX { Path $W/conntrackd.ctl }
}
Helper {
EOF
    for h in "${HELPERS[@]}"; do set -- $h; cat <<EOF
	Type $1 $2 $3 {
		QueueNum $4
		QueueLen 10240
		Policy $1 {
			ExpectMax 1
			ExpectTimeout 300
		}
	}
EOF
    done; echo "}"; } >"$W/conntrackd.conf"
  for h in "${HELPERS[@]}"; do set -- $h
    nfct add helper "$1" "$2" "$3" >>"$W/nfct.log" 2>&1 || setup_fail "nfct add helper $1 $2 $3: $(tail -1 "$W/nfct.log")"
  done
  ip netns exec "$FW" conntrackd -C "$W/conntrackd.conf" >>"$W/conntrackd.out" 2>&1 &
  CTDPID=$!
  for _ in $(seq 100); do grep -q 'initialization completed' "$W/conntrackd.log" 2>/dev/null && break; sleep 0.1; done
  grep -q 'initialization completed' "$W/conntrackd.log" || setup_fail "conntrackd did not start: $(tail -3 "$W/conntrackd.log" "$W/conntrackd.out")"
}
conntrackd_stop() {
  local h
  kill "$CTDPID"; wait "$CTDPID" 2>/dev/null; CTDPID=
  for h in "${HELPERS[@]}"; do set -- $h; nfct del helper "$1" "$2" "$3" 2>/dev/null; done
}
ctlua_start() {
  { echo '[daemon]'; echo 'budget = "1s"'; echo 'log_level = "debug"'
    printf '[[helper]]\nscript = "%s"\nqueue = 0\n' "$E2E/../../scripts/rpc/helper.lua"
    printf '[[helper]]\nscript = "%s"\nqueue = 4\n' "$E2E/../../scripts/tns/helper.lua"; } >"$W/ctlua.toml"
  start_ctlua "$FW"
}

# norm: the [NEW] expectation events, without the remaining time and the
# master's ports, sorted and unique.
norm() {
  grep '\[NEW\]' | sed -E 's/^ *\[NEW\] [0-9]+ //; s/ master-src=([^ ]+) master-dst=([^ ]+) sport=[0-9]+ dport=[0-9]+/ master-src=\1 master-dst=\2/' | sort -u
}

# slice FILE FROM TO: the bytes FROM..TO of FILE.
slice() { tail -c +"$(($2 + 1))" "$1" | head -c "$(($3 - $2))"; }

# run PEER SECONDS: every scenario with PEER as the helper, each flow
# bounded by SECONDS; per scenario $W/PEER/NAME.exp (normalised
# expectations), .ok (the flow passed) and .answered (the client got the
# lookup's reply or the listener's redirect: without it, a run compares
# nothing).
run() {
  local peer=$1 s name e0 e1 a0 a1 rc
  export FLOW_TIMEOUT=$2
  mkdir -p "$W/$peer"
  rpc_tns_firewall || setup_fail "nft rejected the firewall rules with $peer's helpers"
  ip netns exec "$FW" stdbuf -oL conntrack -E expect >"$W/$peer/expect.log" 2>&1 &
  local ev=$!
  for _ in $(seq 100); do ls -l /proc/$ev/fd 2>/dev/null | grep -q socket && break; sleep 0.05; done
  ip netns exec "$FW" tcpdump -i f0 -nn -U -s 0 -w "$W/$peer.pcap" 'tcp or udp' 2>"$W/$peer/tcpdump.err" &
  local tp=$!
  ip netns exec "$CLI" tcpdump -l -nn -i c0 'src port 111 or src port 1521' >"$W/$peer/answers.txt" 2>"$W/$peer/answers.err" &
  local ap=$!
  for _ in $(seq 100); do grep -q "listening on" "$W/$peer/tcpdump.err" && grep -q "listening on" "$W/$peer/answers.err" && break; sleep 0.1; done
  for s in "${SCENARIOS[@]}"; do
    name=${s%%|*}
    inns "$FW" conntrack -F expect >/dev/null 2>&1
    e0=$(stat -c %s "$W/$peer/expect.log"); a0=$(stat -c %s "$W/$peer/answers.txt")
    read -ra flow <<<"${s#*|}"
    "${flow[@]}"; rc=$?
    cp "$W/flow.log" "$W/$peer/$name.flow"
    sleep 0.5  # the last events
    e1=$(stat -c %s "$W/$peer/expect.log"); a1=$(stat -c %s "$W/$peer/answers.txt")
    slice "$W/$peer/expect.log" "$e0" "$e1" | norm >"$W/$peer/$name.exp"
    if slice "$W/$peer/answers.txt" "$a0" "$a1" | grep -qE 'length [1-9]'; then echo yes; else echo no; fi >"$W/$peer/$name.answered"
    if (( rc == 0 )); then echo ok >"$W/$peer/$name.ok"; else echo FAIL >"$W/$peer/$name.ok"; fi
    echo "--- $peer $name: flow $(cat "$W/$peer/$name.ok"), $(wc -l <"$W/$peer/$name.exp") expectations"
    sed 's/^/      /' "$W/$peer/$name.exp"
  done
  kill "$ev" "$tp" "$ap"; wait "$ev" "$tp" "$ap" 2>/dev/null
  inns "$FW" nft delete table inet rpctns
}

echo "--- kernel $(uname -r); conntrackd $(dpkg-query -W -f='${Version}' conntrackd 2>/dev/null)"
# conntrackd's expectations come with the lookup's reply, in the first
# seconds of a flow; most of its flows then wait for a data connection
# that never passes: 12 s bound them (a reply that did not come in time
# fails the comparison, below). ctlua's flows pass, in seconds, also on a
# loaded host.
conntrackd_start
run conntrackd 12
conntrackd_stop
ctlua_start
run ctlua 20
no_script_failures

# --- the comparison ----------------------------------------------------------------
echo
echo "=== RESULTS: conntrackd vs ctlua, kernel $(uname -r)"
printf '%-18s %-16s %-16s %s\n' scenario "conntrackd" "ctlua" "ctlua has conntrackd's expectations"
for s in "${SCENARIOS[@]}"; do
  name=${s%%|*}
  missing=$(comm -23 "$W/conntrackd/$name.exp" "$W/ctlua/$name.exp")
  extra=$(comm -13 "$W/conntrackd/$name.exp" "$W/ctlua/$name.exp" | wc -l)
  printf -v row '%-18s %-16s %-16s' "$name" "$(cat "$W/conntrackd/$name.ok") $(wc -l <"$W/conntrackd/$name.exp") exp" "$(cat "$W/ctlua/$name.ok") $(wc -l <"$W/ctlua/$name.exp") exp"
  if [[ $(cat "$W/conntrackd/$name.answered" "$W/ctlua/$name.answered") != $'yes\nyes' ]]; then
    bad "$row inconclusive: the client got no answer to its lookup (conntrackd: $(cat "$W/conntrackd/$name.answered"), ctlua: $(cat "$W/ctlua/$name.answered"))"
  elif [[ -z $missing ]]; then ok "$row yes (+$extra)"; else bad "$row NO, missing: $missing"; fi
done
[[ -n ${CTLUA_PEERS_LOGDIR:-} ]] && cp -r "$W"/. "$CTLUA_PEERS_LOGDIR/" 2>/dev/null
finish
