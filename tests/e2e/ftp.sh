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
#   CTLUA_E2E_NAT=snat ...  (or 1) the firewall also masquerades the clients
#                         (IPv4 and IPv6): active transfers then work only if
#                         ctlua rewrote PORT/EPRT (the server refuses foreign
#                         addresses) and the data connection follows the NAT;
#                         tcpdump on the server's side checks the rewritten
#                         commands.
#   CTLUA_E2E_NAT=dnat ...  the server sits behind DNAT: the clients dial the
#                         firewall's outside address (192.0.2.254,
#                         2001:db8:1::fe), which forwards port 21 to the
#                         server, and only DNAT'ed control connections may
#                         open. The server announces its private address in
#                         227 (no masquerade_address): the helper must rewrite
#                         it to the public one (the client uses the 227
#                         address, --no-ftp-skip-pasv-ip); tcpdump on the
#                         server's side and curl -v on the client's check both
#                         ends of that rewrite.
# Exit 0: passed. Output ends with "N passed, M failed".
set -uo pipefail
CTLUA=${CTLUA_BIN:?set CTLUA_BIN to the ctlua binary}
PY=/usr/bin/python3
case ${CTLUA_E2E_NAT:-0} in
0|"") MODE=plain ;; 1|snat) MODE=snat ;; dnat) MODE=dnat ;;
*) echo "FAIL: CTLUA_E2E_NAT must be 0, 1/snat or dnat, not $CTLUA_E2E_NAT"; echo "0 passed, 1 failed"; exit 1 ;;
esac
echo "--- FTP e2e, set-up: $MODE"
NS=ctl$$
CLI=$NS-cli FW=$NS-fw SRV=$NS-srv NSES="$CLI $FW $SRV"
W=$(mktemp -d /tmp/ctlua-e2e.XXXXXX)
. "$(dirname "$0")/lib.sh"
for t in ip nft conntrack curl "$PY"; do need "$t"; done
[[ $MODE == plain ]] || need tcpdump
need_helper_kernel ftp
topology "$CLI" "$FW" "$SRV"

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
echo "--- ftpd up at ${SECONDS}s"

# --- ctlua in the firewall -----------------------------------------------------
ctlua_config ftp 3
start_ctlua "$FW"
"$CTLUA" helpers >"$W/helpers.txt" 2>&1; grep -q "ftp.*queue 3" "$W/helpers.txt" && ok "kernel lists helper ftp on queue 3" || { bad "ctlua helpers does not list ftp"; cat "$W/helpers.txt"; }

newrule="tcp dport 21 ct state new accept"
[[ $MODE == dnat ]] && newrule="tcp dport 21 ct state new ct status dnat accept"  # only the forwarded port
{ "$CTLUA" rules --config "$W/ctlua.toml"; cat <<NFT
table inet filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		$newrule
	}
}
NFT
case $MODE in
snat) cat <<'NAT'
table inet nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "f1" masquerade
	}
}
NAT
;;
dnat) cat <<'NAT'
table inet nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "f0" ip daddr 192.0.2.254 tcp dport 21 dnat ip to 198.51.100.2
		iifname "f0" ip6 daddr 2001:db8:1::fe tcp dport 21 dnat ip6 to 2001:db8:2::2
	}
}
NAT
;;
esac
} > "$W/rules.nft"
inns "$FW" nft -f "$W/rules.nft" && ok "rules from ctlua rules load" || { bad "nft rejected the rules"; cat "$W/rules.nft"; }
ip netns exec "$FW" stdbuf -oL conntrack -E expect >"$W/expect.log" 2>&1 &
EVPID=$!
# The first transfer's events are lost unless conntrack has subscribed:
# wait for its netlink socket (not a function: $! must be conntrack).
for _ in $(seq 100); do ls -l /proc/$EVPID/fd 2>/dev/null | grep -q socket && break; sleep 0.05; done
sleep 0.2
if [[ $MODE != plain ]]; then  # the control connections as the server's side of the firewall sees them
  ip netns exec "$SRV" tcpdump -l -n -A -s 0 -i s0 tcp port 21 >"$W/tcpdump.txt" 2>"$W/tcpdump.err" &
  for _ in $(seq 100); do grep -q "listening on" "$W/tcpdump.err" && break; sleep 0.1; done
  grep -q "listening on" "$W/tcpdump.err" || { bad "tcpdump did not start on s0"; cat "$W/tcpdump.err"; }
fi

# --- transfers --------------------------------------------------------------------
echo "--- transfers at ${SECONDS}s"
transfer() { # name, curl args..., url-prefix
  local name=$1 prefix=$2; shift 2
  local out="$W/out-$name"; mkdir -p "$out"
  if inns "$CLI" timeout 20 curl -sv --fail-early --max-time "${TMO:-15}" "$@" "$prefix/a.txt" -o "$out/a.txt" "$prefix/b.txt" -o "$out/b.txt" "$prefix/c.txt" -o "$out/c.txt" 2>"$out/curl.log" \
     && cmp -s "$out/b.txt" "$W/root/b.txt" && cmp -s "$out/a.txt" "$W/root/a.txt" && cmp -s "$out/c.txt" "$W/root/c.txt"; then
    return 0
  fi
  return 1
}
H4=198.51.100.2 H6=2001:db8:2::2                  # what the clients dial
[[ $MODE == dnat ]] && H4=192.0.2.254 H6=2001:db8:1::fe
V4=ftp://$H4 V6="ftp://[$H6]"
okx=0
# ipv4-pasv: --no-ftp-skip-pasv-ip makes curl dial the address of the 227
# reply (curl >= 7.74 uses the control connection's by default).
for t in "ipv4-port|$V4|--ftp-port 192.0.2.1 --disable-eprt" \
         "ipv4-eprt|$V4|--ftp-port 192.0.2.1" \
         "ipv4-pasv|$V4|--disable-epsv --no-ftp-skip-pasv-ip" \
         "ipv4-epsv|$V4|" \
         "ipv6-eprt|$V6|-g --ftp-port 2001:db8:1::1" \
         "ipv6-epsv|$V6|-g"; do
  IFS='|' read -r name url args <<<"$t"
  # shellcheck disable=SC2086
  if transfer "$name" "$url" $args; then ok "$name: 3 files through the dropping firewall"; okx=$((okx+1)); else
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
# The data connections (in TIME_WAIT now): whether they inherited the
# master's helper, which would queue their packets to ctlua too.
inns "$FW" conntrack -L -p tcp 2>/dev/null | grep -v 'dport=21 ' >"$W/data-ct.txt"
nd=$(grep -c . "$W/data-ct.txt"); nh=$(grep -c 'helper=' "$W/data-ct.txt")
# Pinned on every kernel of the matrix (6.1, 6.12, 7.3): they carry none.
(( nd >= 3*okx && nh == 0 )) && ok "kernel $(uname -r): $nd data connections, none inherited the helper" \
  || { bad "kernel $(uname -r): $nh of $nd data connections carry a helper (their packets would be queued too)"; grep -m3 'helper=' "$W/data-ct.txt"; }
sleep 0.5
n=$(grep -c NEW "$W/expect.log")
(( n >= 3*okx && n > 0 )) && ok "conntrack saw $n expectations (>= 3 per passed mode: $((3*okx)))" || { bad "only $n expectation events"; cat "$W/expect.log"; }

# --- the rewritten payloads, on both sides of the firewall ----------------------
# count PATTERN FILE: lines of FILE matching the extended regexp; in a
# tcpdump -A capture, only the payload lines (the header line repeats an FTP
# command's first line).
count() { grep -avE '^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]+ IP6? ' "$2" 2>/dev/null | grep -acE "$1"; }
case $MODE in
snat)
  sleep 0.5
  for c in "PORT 198,51,100,254,[0-9]+,[0-9]+|ipv4-port: the server got PORT with the firewall's address" \
           "EPRT \|1\|198\.51\.100\.254\|[0-9]+\||ipv4-eprt: the server got EPRT |1| with the firewall's address" \
           "EPRT \|2\|2001:db8:2::fe\|[0-9]+\||ipv6-eprt: the server got EPRT |2| with the firewall's address"; do
    re=${c%%|ipv*} what=ipv${c#*|ipv}
    k=$(count "$re" "$W/tcpdump.txt"); (( k >= 3 )) && ok "$what ($k commands)" || bad "$what: $k of 3 commands"
  done
  k=$(count "(PORT|EPRT) .*(192[,.]0[,.]2[,.]1[,|]|2001:db8:1::1)" "$W/tcpdump.txt")
  (( k == 0 )) && ok "no client address reached the server in PORT/EPRT" || bad "$k PORT/EPRT commands carried the client's own address to the server"
  ;;
dnat)
  sleep 0.5
  L=$W/out-ipv4-pasv/curl.log
  k=$(count "227 [^(]*\(198,51,100,2,[0-9]+,[0-9]+\)" "$W/tcpdump.txt"); (( k >= 3 )) && ok "ipv4-pasv: the server announced its private address in $k 227 replies" \
    || { bad "ipv4-pasv: $k 227 replies with 198,51,100,2 on the server side (want 3)"; grep 227 "$W/tcpdump.txt"; }
  k=$(count "^< 227 .*\(192,0,2,254,[0-9]+,[0-9]+\)" "$L"); (( k == 3 )) && ok "ipv4-pasv: the client received the public address in all 3 227 replies" \
    || { bad "ipv4-pasv: $k of 3 227 replies the client received carry 192,0,2,254"; grep 227 "$L"; }
  k=$(count "198,51,100" "$L"); (( k == 0 )) && ok "ipv4-pasv: no private address reached the client" || { bad "ipv4-pasv: the client saw the private address"; grep 198,51,100 "$L"; }
  k=$(count "Connecting to 192\.0\.2\.254 .*port" "$L"); (( k >= 3 )) && ok "ipv4-pasv: the client dialed the public address for the data ($k)" \
    || { bad "ipv4-pasv: curl did not dial 192.0.2.254 for the data"; grep -i connect "$L"; }
  echo "--- 227 as the server sent it / as the client got it:"; grep -m1 -o "227 .*)" "$W/tcpdump.txt"; grep -m1 "^< 227" "$L"
  ;;
esac

# --- reload while a control connection is open ---------------------------------
echo "--- reload at ${SECONDS}s"
inns "$CLI" "$PY" - "$W" "$H4" >"$W/reload.log" 2>&1 <<'PYEOF' &
import ftplib, sys, time
f = ftplib.FTP(); f.connect(sys.argv[2], 21, timeout=20); f.login()
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
echo "--- stop at ${SECONDS}s"
kill -TERM "$CTPID"; wait "$CTPID"; rc=$?; CTPID=; echo "--- ctlua stopped at ${SECONDS}s"
(( rc == 0 )) && ok "ctlua exited 0 on SIGTERM" || bad "ctlua exit status $rc"
grep -q "leaving kernel helper registered" "$W/ctlua.log" && ok "exit logged the helper left without reader" || bad "no exit log for the kept helper"
if TMO=8 transfer stopped "$V4" --ftp-port 192.0.2.1 --disable-eprt; then bad "active transfer passed with ctlua stopped: expectations are not ours"
else ok "with ctlua stopped, the active transfer fails (the expectations were ctlua's)"; fi

no_script_failures
echo "--- ctlua log (at ${SECONDS}s)"; tail -20 "$W/ctlua.log"
finish
