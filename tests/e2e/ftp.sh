#!/usr/bin/env bash
# ftp.sh - end-to-end test of the kernel path with real FTP traffic.
#
# Runs as root on a kernel with nfnetlink_cthelper and the NFQUEUE conntrack
# glue (inside tests/vm/run.sh on our machines). Topology, all in network
# namespaces this script makes and deletes:
#
#   cli 192.0.2.1 / 2001:db8:1::1  --  fw (router, ctlua)  --  srv 198.51.100.2 / 2001:db8:2::2
#
# The firewall forwards only FTP control connections and RELATED,ESTABLISHED
# traffic, so a data connection passes only if ctlua's FTP helper created
# the expectation. Real pyftpdlib server, real curl client: active (PORT,
# EPRT) and passive (PASV, EPSV) transfers over IPv4 and IPv6, several
# files per control connection. Then: a script reload while a control
# connection is open, the daemon's exit (helper deleted or disabled), and
# the same transfer with ctlua stopped, which must fail.
#
#   CTLUA_BIN=path/to/ctlua tests/e2e/ftp.sh
#   CTLUA_E2E_NAT=1 ...   the firewall also masquerades the clients (IPv4 and
#                         IPv6): active transfers then work only if ctlua
#                         rewrote PORT/EPRT (the server refuses foreign
#                         addresses) and the data connection follows the NAT.
# Exit 0: passed. Output ends with "N passed, M failed".
set -uo pipefail
CTLUA=${CTLUA_BIN:?set CTLUA_BIN to the ctlua binary}
PY=/usr/bin/python3
NS=ctl$$
CLI=$NS-cli FW=$NS-fw SRV=$NS-srv
W=$(mktemp -d /tmp/ctlua-e2e.XXXXXX)
pass=0 fail=0
ok()   { echo "PASS: $*"; pass=$((pass+1)); }
bad()  { echo "FAIL: $*"; fail=$((fail+1)); }
need() { command -v "$1" >/dev/null || { echo "FAIL: missing tool $1 (install it: see tests/vm/README.md)"; echo "0 passed, 1 failed"; exit 1; }; }
for t in ip nft conntrack curl "$PY"; do need "$t"; done
inns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

cleanup() {
  [[ -n ${CTPID:-} ]] && kill "$CTPID" 2>/dev/null && wait "$CTPID" 2>/dev/null
  jobs -p | xargs -r kill 2>/dev/null
  for n in $CLI $FW $SRV; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT

# --- kernel features, said plainly when missing ---------------------------
if ! modprobe nfnetlink_cthelper 2>/dev/null && [[ ! -d /sys/module/nfnetlink_cthelper ]]; then
  echo "FAIL: kernel lacks nfnetlink_cthelper (CONFIG_NF_CT_NETLINK_HELPER)"; echo "0 passed, 1 failed"; exit 1
fi
modprobe -a nfnetlink_queue nf_conntrack_netlink nft_ct nf_nat 2>/dev/null
if [[ -d /sys/module/nf_conntrack_ftp ]]; then
  echo "FAIL: nf_conntrack_ftp is loaded: it owns the helper name ftp"; echo "0 passed, 1 failed"; exit 1
fi

# --- topology --------------------------------------------------------------
for n in $CLI $FW $SRV; do ip netns add "$n"; inns "$n" ip link set lo up; done
ip link add c0 netns "$CLI" type veth peer name f0 netns "$FW"
ip link add s0 netns "$SRV" type veth peer name f1 netns "$FW"
inns "$CLI" ip addr add 192.0.2.1/24 dev c0;       inns "$CLI" ip addr add 2001:db8:1::1/64 dev c0 nodad
inns "$FW"  ip addr add 192.0.2.254/24 dev f0;     inns "$FW"  ip addr add 2001:db8:1::fe/64 dev f0 nodad
inns "$FW"  ip addr add 198.51.100.254/24 dev f1;  inns "$FW"  ip addr add 2001:db8:2::fe/64 dev f1 nodad
inns "$SRV" ip addr add 198.51.100.2/24 dev s0;    inns "$SRV" ip addr add 2001:db8:2::2/64 dev s0 nodad
for l in "$CLI c0" "$FW f0" "$FW f1" "$SRV s0"; do set -- $l; inns "$1" ip link set "$2" up; done
inns "$CLI" ip route add default via 192.0.2.254;  inns "$CLI" ip -6 route add default via 2001:db8:1::fe
inns "$SRV" ip route add default via 198.51.100.254; inns "$SRV" ip -6 route add default via 2001:db8:2::fe
inns "$FW" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

# --- FTP server --------------------------------------------------------------
mkdir -p "$W/root"
for f in a b c; do head -c 700 /dev/urandom | base64 > "$W/root/$f.txt"; done
inns "$SRV" "$PY" -c '
import sys, logging
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
a = DummyAuthorizer(); a.add_anonymous(sys.argv[1])
h = FTPHandler; h.authorizer = a; h.permit_foreign_addresses = False
logging.basicConfig(level=logging.WARNING)
FTPServer(("::", 21), h).serve_forever()' "$W/root" >"$W/ftpd.log" 2>&1 &

for _ in $(seq 200); do inns "$SRV" ss -ltn | grep -q ':21 ' && break; sleep 0.1; done  # python starts slowly under TCG
inns "$SRV" ss -ltn | grep -q ':21 ' || { bad "FTP server did not start"; cat "$W/ftpd.log"; }

# --- ctlua in the firewall -----------------------------------------------------
cat > "$W/ctlua.toml" <<CONF
[daemon]
on_exit = "keep"
log_level = "debug"
[[helper]]
script = "$W/ftp.lua"
queue = 3
CONF
cp "$(dirname "$0")/../../scripts/ftp/helper.lua" "$W/ftp.lua"
ip netns exec "$FW" "$CTLUA" run --config "$W/ctlua.toml" >"$W/ctlua.log" 2>&1 &  # not a function: $! must be ctlua
CTPID=$!
for _ in $(seq 100); do grep -q "ctlua running" "$W/ctlua.log" && break; sleep 0.1; done
if grep -q "ctlua running" "$W/ctlua.log"; then ok "ctlua run registered the helper and bound its queue"; else
  bad "ctlua run did not start"; cat "$W/ctlua.log"; echo "$pass passed, $((fail)) failed"; exit 1; fi
"$CTLUA" helpers >"$W/helpers.txt" 2>&1; grep -q "ftp.*queue 3" "$W/helpers.txt" && ok "kernel lists helper ftp on queue 3" || { bad "ctlua helpers does not list ftp"; cat "$W/helpers.txt"; }

{ "$CTLUA" rules --config "$W/ctlua.toml"; cat <<'NFT'
table inet filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		tcp dport 21 ct state new accept
	}
}
NFT
if [[ ${CTLUA_E2E_NAT:-0} == 1 ]]; then cat <<'NAT'
table inet nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "f1" masquerade
	}
}
NAT
fi
} > "$W/rules.nft"
inns "$FW" nft -f "$W/rules.nft" && ok "rules from ctlua rules load" || { bad "nft rejected the rules"; cat "$W/rules.nft"; }
ip netns exec "$FW" stdbuf -oL conntrack -E expect >"$W/expect.log" 2>&1 &

# --- transfers --------------------------------------------------------------------
transfer() { # name, curl args..., url-prefix
  local name=$1 prefix=$2; shift 2
  local out="$W/out-$name"; mkdir -p "$out"
  if inns "$CLI" timeout 20 curl -s --max-time 15 "$@" "$prefix/a.txt" -o "$out/a.txt" "$prefix/b.txt" -o "$out/b.txt" "$prefix/c.txt" -o "$out/c.txt" \
     && cmp -s "$out/a.txt" "$W/root/a.txt" && cmp -s "$out/c.txt" "$W/root/c.txt"; then
    return 0
  fi
  return 1
}
V4=ftp://198.51.100.2 V6='ftp://[2001:db8:2::2]'
for t in "ipv4-port|$V4|--ftp-port 192.0.2.1 --disable-eprt" \
         "ipv4-eprt|$V4|--ftp-port 192.0.2.1" \
         "ipv4-pasv|$V4|--disable-epsv" \
         "ipv4-epsv|$V4|" \
         "ipv6-eprt|$V6|-g --ftp-port 2001:db8:1::1" \
         "ipv6-epsv|$V6|-g"; do
  IFS='|' read -r name url args <<<"$t"
  # shellcheck disable=SC2086
  if transfer "$name" "$url" $args; then ok "$name: 3 files through the dropping firewall"; else
    bad "$name transfer failed"
    if [[ -z ${debugged:-} ]]; then debugged=1
      echo "--- debug: curl -v"; inns "$CLI" timeout 10 curl -v --max-time 8 $args "$url/a.txt" -o /dev/null 2>&1 | tail -15
      echo "--- debug: queues"; inns "$FW" cat /proc/net/netfilter/nfnetlink_queue
      echo "--- debug: expectations"; inns "$FW" conntrack -L expect 2>&1
      echo "--- debug: conntrack"; inns "$FW" conntrack -L 2>&1 | head
      echo "--- debug: ctlua"; tail -20 "$W/ctlua.log"
      echo "--- debug: ftpd"; tail -20 "$W/ftpd.log"; inns "$SRV" ss -ltnp
    fi
  fi
done
sleep 0.5
n=$(grep -c NEW "$W/expect.log")
(( n >= 18 )) && ok "conntrack saw $n expectations (>= 18)" || { bad "only $n expectation events"; cat "$W/expect.log"; }

# --- reload while a control connection is open ---------------------------------
inns "$CLI" "$PY" - "$W" >"$W/reload.log" 2>&1 <<'PYEOF' &
import ftplib, sys, time
f = ftplib.FTP(); f.connect("198.51.100.2", 21, timeout=20); f.login()
f.set_pasv(True); f.retrbinary("RETR a.txt", lambda b: None)
open(sys.argv[1] + "/reload-1", "w").close()
while not __import__("os").path.exists(sys.argv[1] + "/reload-2"): time.sleep(0.05)
f.set_pasv(False); f.retrbinary("RETR b.txt", lambda b: None)
f.set_pasv(True); f.retrbinary("RETR c.txt", lambda b: None)
f.quit(); print("reload-ok")
PYEOF
for _ in $(seq 100); do [[ -e $W/reload-1 ]] && break; sleep 0.1; done
sed -i 's/^-- ftp: expect/-- ftp (reloaded): expect/' "$W/ftp.lua"
kill -HUP "$CTPID"
for _ in $(seq 50); do grep -q "reloaded helper" "$W/ctlua.log" && break; sleep 0.1; done
touch "$W/reload-2"
wait %?reload 2>/dev/null; sleep 1
grep -q "reloaded helper" "$W/ctlua.log" && ok "script reloaded (SIGHUP)" || bad "no reload in the log"
grep -q reload-ok "$W/reload.log" && ok "control connection kept working across the reload" || { bad "transfers after reload failed"; cat "$W/reload.log"; }

# --- stop: on_exit = keep leaves an unread queue, and the helper says so ---------
kill -TERM "$CTPID"; wait "$CTPID"; rc=$?; CTPID=
(( rc == 0 )) && ok "ctlua exited 0 on SIGTERM" || bad "ctlua exit status $rc"
grep -q "leaving kernel helper registered" "$W/ctlua.log" && ok "exit logged the helper left without reader" || bad "no exit log for the kept helper"
if transfer stopped "$V4" --ftp-port 192.0.2.1 --disable-eprt; then bad "active transfer passed with ctlua stopped: expectations are not ours"
else ok "with ctlua stopped, the active transfer fails (the expectations were ctlua's)"; fi

echo "--- ctlua log"; tail -20 "$W/ctlua.log"
echo "$pass passed, $fail failed"
(( fail == 0 ))
