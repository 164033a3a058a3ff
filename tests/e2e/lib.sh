# lib.sh - the parts the end-to-end scripts share. Source it after setting
#   NSES  the network namespaces the script makes (cleanup deletes them)
#   W     the script's work directory (cleanup removes it)
# It sets the EXIT trap and E2E, the scripts' directory. ctlua runs as $CTPID once start_ctlua started it.

E2E=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pass=0 fail=0
ok()  { echo "PASS: $*"; pass=$((pass+1)); }
bad() { echo "FAIL: $*"; fail=$((fail+1)); }
# finish prints the closing line and exits with the result; a script may
# define on_failure to add diagnostics first.
finish() {
  (( fail > 0 )) && declare -F on_failure >/dev/null && on_failure
  echo "$pass passed, $fail failed"
  exit $(( fail > 0 ))
}
die()  { bad "$*"; finish; }
# need TOOL [HINT]: a missing tool is a failure that says what to install.
need() { command -v "$1" >/dev/null || die "missing tool $1 (${2:-tests/vm/run.sh installs the test tools})"; }
inns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# cleanup stops ctlua and everything left in the namespaces (bounded: 3 s
# for them to go), then deletes the namespaces and the work directory.
cleanup() {
  [[ -n ${CTPID:-} ]] && kill "$CTPID" 2>/dev/null && wait "$CTPID" 2>/dev/null
  local n
  for n in $NSES; do ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null; done
  jobs -p | xargs -r kill 2>/dev/null
  for _ in $(seq 30); do
    [[ -z $(for n in $NSES; do ip netns pids "$n" 2>/dev/null; done) ]] && break; sleep 0.1
  done
  for n in $NSES; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT

# need_helper_kernel NAME: the kernel has the user-space helper API, and
# the in-kernel helper NAME (which would own the name) is not loaded.
need_helper_kernel() {
  if ! modprobe nfnetlink_cthelper 2>/dev/null && [[ ! -d /sys/module/nfnetlink_cthelper ]]; then
    die "kernel lacks nfnetlink_cthelper (CONFIG_NF_CT_NETLINK_HELPER)"
  fi
  modprobe -a nfnetlink_queue nf_conntrack_netlink nft_ct nf_nat nft_nat 2>/dev/null
  local m
  for m in nfnetlink_queue nf_conntrack_netlink nf_nat; do
    [[ -d /sys/module/$m ]] || die "kernel module $m is missing (needed for the helper queue, the expectations, NAT)"
  done
  [[ -d /sys/module/nf_conntrack_$1 ]] && die "nf_conntrack_$1 is loaded: it owns the helper name $1"
  return 0
}

# topology CLI FW SRV: client -- firewall (router) -- server:
#   CLI 192.0.2.1 / 2001:db8:1::1, c0
#   FW  192.0.2.254 / 2001:db8:1::fe on f0, 198.51.100.254 / 2001:db8:2::fe on f1
#   SRV 198.51.100.2 / 2001:db8:2::2, s0
topology() {
  local cli=$1 fw=$2 srv=$3 n
  for n in $cli $fw $srv; do ip netns add "$n" || die "ip netns add $n"; inns "$n" ip link set lo up; done
  ip link add c0 netns "$cli" type veth peer name f0 netns "$fw" || die "no veth"
  ip link add s0 netns "$srv" type veth peer name f1 netns "$fw" || die "no veth"
  inns "$cli" ip addr add 192.0.2.1/24 dev c0;       inns "$cli" ip addr add 2001:db8:1::1/64 dev c0 nodad
  inns "$fw"  ip addr add 192.0.2.254/24 dev f0;     inns "$fw"  ip addr add 2001:db8:1::fe/64 dev f0 nodad
  inns "$fw"  ip addr add 198.51.100.254/24 dev f1;  inns "$fw"  ip addr add 2001:db8:2::fe/64 dev f1 nodad
  inns "$srv" ip addr add 198.51.100.2/24 dev s0;    inns "$srv" ip addr add 2001:db8:2::2/64 dev s0 nodad
  local l
  for l in "$cli c0" "$fw f0" "$fw f1" "$srv s0"; do set -- $l; inns "$1" ip link set "$2" up; done
  inns "$cli" ip route add default via 192.0.2.254;    inns "$cli" ip -6 route add default via 2001:db8:1::fe
  inns "$srv" ip route add default via 198.51.100.254; inns "$srv" ip -6 route add default via 2001:db8:2::fe
  inns "$fw" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

# ctlua_config HELPER QUEUE: $W/ctlua.toml runs a copy ($W/HELPER.lua) of
# the shipped scripts/HELPER/helper.lua on QUEUE; the helper is kept
# registered on exit, so that a test can see the kernel without a reader.
ctlua_config() {
  cp "$E2E/../../scripts/$1/helper.lua" "$W/$1.lua"
  cat > "$W/ctlua.toml" <<CONF
[daemon]
on_exit = "keep"
# The budget is wall-clock time: under TCG, with another VM on the same two
# host cores, a vCPU stalls past the default 50 ms, the callback is stopped
# and the default verdict (accept, nothing rewritten) applies.
budget = "1s"
log_level = "debug"
[[helper]]
script = "$W/$1.lua"
queue = $2
CONF
}

# start_ctlua FW: runs "$CTLUA run --config $W/ctlua.toml" in FW, logging
# to $W/ctlua.log, and waits until it serves; it fails when it does not.
start_ctlua() {
  ip netns exec "$1" "$CTLUA" run --config "$W/ctlua.toml" >"$W/ctlua.log" 2>&1 &  # not a function: $! must be ctlua
  CTPID=$!
  for _ in $(seq 100); do grep -q "ctlua running" "$W/ctlua.log" && break; sleep 0.1; done
  grep -q "ctlua running" "$W/ctlua.log" || { cat "$W/ctlua.log"; die "ctlua run did not start"; }
  ok "ctlua run registered the helper and bound its queue"
}

# no_script_failures: the ctlua log shows no failed callback.
no_script_failures() {
  local k
  k=$(grep -c "script failed" "$W/ctlua.log")
  (( k == 0 )) && ok "no script failures in the ctlua log" || { bad "$k script failures in the ctlua log"; grep "script failed" "$W/ctlua.log" | head -5; }
}

# start_ftpd NS ROOT: a pyftpdlib server for ROOT (anonymous, both families,
# PORT/EPRT to foreign addresses refused) on port 21 in NS, logging to
# $W/ftpd.log, and waits until it listens (python starts slowly under TCG);
# it fails when it does not.
start_ftpd() {
  inns "$1" /usr/bin/python3 -c '
import sys, logging
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
a = DummyAuthorizer(); a.add_anonymous(sys.argv[1])
h = FTPHandler; h.authorizer = a; h.permit_foreign_addresses = False
logging.basicConfig(level=logging.WARNING)
FTPServer(("::", 21), h).serve_forever()' "$2" >"$W/ftpd.log" 2>&1 &
  for _ in $(seq 200); do inns "$1" ss -ltn | grep -q ':21 ' && return 0; sleep 0.1; done
  die "FTP server did not start: $(cat "$W/ftpd.log")"
}

# forward_filter RULE...: an nft table inet filter whose forward chain lets
# related and established traffic pass, then each RULE, and drops the rest.
forward_filter() {
  printf 'table inet filter {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n'
  printf '\t\t%s\n' "ct state established,related accept" "$@"
  printf '\t}\n}\n'
}

# scrape NAME: the daemon's metrics (127.0.0.1:9469 in the firewall
# namespace $FW) into $W/NAME.prom.
scrape() { inns "$FW" curl -sS --max-time 10 http://127.0.0.1:9469/metrics >"$W/$1.prom" 2>&1; }
# metric NAME FILE: the value of a Prometheus sample (NAME with its
# labels, as exposed) in a scraped FILE, 0 when absent.
metric() { awk -v m="$1" '$1 == m { print $2; f=1 } END { if (!f) print 0 }' "$2"; }
