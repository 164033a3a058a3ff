#!/usr/bin/env bash
# tests/peers/conntrackd-ftp.sh - what conntrackd's user-space FTP helper
# (Debian's conntrackd, cthelper mode, ct_helper_ftp.so) really does, on a
# real kernel, in the FTP scenarios our own Lua helper is tested with
# (tests/e2e/ftp.sh): the same topology, a real pyftpdlib server, a real curl
# client, 3 files per control connection.
#
#   cli 192.0.2.1 / 2001:db8:1::1  --  fw (router + helper)  --  srv 198.51.100.2 / 2001:db8:2::2
#
# The firewall forwards only NEW FTP control connections and
# RELATED,ESTABLISHED traffic, so a data connection passes only if the
# helper created the expectation for it. Scenarios: ipv4 PORT, EPRT, PASV,
# EPSV and ipv6 EPRT, EPSV; then the same six with the firewall masquerading
# the client (SNAT), where an active transfer also needs the PORT/EPRT
# command rewritten (the server refuses foreign addresses).
#
# Per scenario it records: transfer ok/failed (the files compared), the data
# commands curl sent (curl falls back from EPSV to PASV by itself), the
# [NEW] events of `conntrack -E expect` in the firewall's namespace, and what
# the server's side of the firewall saw (tcpdump on the server's veth): was
# the command rewritten. A table, one line per scenario, ends the output.
#
# Usage (root; the host kernel lacks nfnetlink_cthelper, so it runs in the VM):
#   tests/peers/conntrackd-ftp.sh                 installs conntrackd + nfct on
#                                                 the host if missing, then runs
#                                                 itself in tests/vm/run.sh
#   tests/vm/run.sh bash tests/peers/conntrackd-ftp.sh     the same, by hand
#   CTLUA_PEERS_HELPER=kernel ...  the kernel's nf_conntrack_ftp (+ nf_nat_ftp)
#                                  instead of conntrackd: the control run,
#                                  which shows the set-up itself can pass all 12
#   CTLUA_PEERS_LOGDIR=DIR ...     copy the raw logs to DIR (in the VM, DIR must
#                                  also be in CTLUA_VM_RWDIRS; the wrapper does it)
#   CTLUA_PEERS_ONLY="ipv4-epsv snat-ipv6-eprt" ...  run only these scenarios
#   CTLUA_PEERS_NLMON=1 ...        also capture the firewall's netlink traffic
#                                  (nlmon) to netlink.pcap in the log dir
#
# Exit status: 0 when every scenario ran (a helper's failures are findings,
# not script failures); 2 when the set-up failed (missing tool, conntrackd
# not starting, ...), with the reason on the last line.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SELF=$HERE/$(basename "$0")
ROOT=$(cd "$HERE/../.." && pwd)
HELPER=${CTLUA_PEERS_HELPER:-conntrackd}
case $HELPER in conntrackd|kernel) ;; *) echo "SETUP FAILED: CTLUA_PEERS_HELPER must be conntrackd or kernel"; exit 2 ;; esac
setup_fail() { echo "SETUP FAILED: $*"; exit 2; }

# --- on the host: packages, then the VM -------------------------------------------
if [[ ${CTLUA_VM_GUEST:-} != 1 ]]; then
  [[ $(id -u) == 0 ]] || setup_fail "run as root (apt-get, qemu)"
  # The guest sees the host's file system: tools are installed on the HOST.
  # tests/vm/run.sh installs the test tools (curl, pyftpdlib, tcpdump, ...);
  # conntrackd and nfct are ours. Debian's conntrackd postinst would start the
  # service on a systemd host; on a container with policy-rc.d it does not.
  missing=()
  for p in conntrackd nfct; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if (( ${#missing[@]} )); then
    echo "--- installing ${missing[*]} on the host" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get -qq -o DPkg::Lock::Timeout=300 update >/dev/null || setup_fail "apt-get update failed"
    apt-get -qq -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}" >/dev/null \
      || setup_fail "apt-get install ${missing[*]} failed"
  fi
  if [[ -n ${CTLUA_PEERS_LOGDIR:-} ]]; then
    mkdir -p "$CTLUA_PEERS_LOGDIR"; CTLUA_PEERS_LOGDIR=$(cd "$CTLUA_PEERS_LOGDIR" && pwd)
    export CTLUA_PEERS_LOGDIR CTLUA_VM_RWDIRS=${CTLUA_VM_RWDIRS:+$CTLUA_VM_RWDIRS:}$CTLUA_PEERS_LOGDIR
  fi
  export CTLUA_VM_TIMEOUT=${CTLUA_VM_TIMEOUT:-420}
  exec "$ROOT/tests/vm/run.sh" bash "$SELF" "$@"
fi

# =========================== in the guest (root) ===================================
PY=/usr/bin/python3
NS=peer$$
CLI=$NS-cli FW=$NS-fw SRV=$NS-srv
W=$(mktemp -d /tmp/ctlua-peers.XXXXXX)
T0=$(date +%s.%N)
el() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1fs", b-a}'; }
say() { echo "--- [$(el)] $*"; }
inns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

cleanup() {
  [[ -n ${CTDPID:-} ]] && kill "$CTDPID" 2>/dev/null
  jobs -p | xargs -r kill 2>/dev/null
  for n in $CLI $FW $SRV; do ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null; done
  for _ in $(seq 30); do
    [[ -z $(for n in $CLI $FW $SRV; do ip netns pids "$n" 2>/dev/null; done) ]] && break; sleep 0.1
  done
  if [[ -n ${CTLUA_PEERS_LOGDIR:-} ]]; then
    mkdir -p "$CTLUA_PEERS_LOGDIR/$HELPER" && cp -r "$W"/. "$CTLUA_PEERS_LOGDIR/$HELPER/" 2>/dev/null
    rm -rf "$CTLUA_PEERS_LOGDIR/$HELPER/root"
  fi
  for n in $CLI $FW $SRV; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT

# --- tools and kernel features: say what is missing --------------------------------
miss=()
for t in ip nft conntrack curl tcpdump ss stdbuf timeout "$PY"; do command -v "$t" >/dev/null || miss+=("$t"); done
"$PY" -c 'import pyftpdlib' 2>/dev/null || miss+=("python3-pyftpdlib")
CTD_SO=/usr/lib/x86_64-linux-gnu/conntrack-tools/ct_helper_ftp.so
if [[ $HELPER == conntrackd ]]; then
  for t in conntrackd nfct; do command -v "$t" >/dev/null || miss+=("$t"); done
  [[ -e $CTD_SO ]] || CTD_SO=$(find /usr/lib -name ct_helper_ftp.so 2>/dev/null | head -1)
  [[ -n $CTD_SO && -e $CTD_SO ]] || miss+=("ct_helper_ftp.so (package conntrackd)")
fi
(( ${#miss[@]} )) && setup_fail "missing on the host: ${miss[*]} (apt-get install conntrackd nfct conntrack nftables iproute2 curl tcpdump python3-pyftpdlib on the HOST)"

if [[ $HELPER == conntrackd ]]; then
  # nf_conntrack_ftp owns the name "ftp" once loaded (the user-space helper
  # then gets EBUSY), and nft's `ct helper` objects ask for it by module
  # alias when no helper "ftp" of a family is registered: forbid it in the
  # guest (the overlay is writable, nothing reaches the host).
  echo "install nf_conntrack_ftp /bin/false" > /etc/modprobe.d/ctlua-peers.conf
  modprobe -a nfnetlink_cthelper nfnetlink_queue nf_conntrack_netlink 2>/dev/null
  [[ -d /sys/module/nfnetlink_cthelper ]] || setup_fail "kernel lacks nfnetlink_cthelper (CONFIG_NF_CT_NETLINK_HELPER): run it in tests/vm/run.sh"
  [[ -d /sys/module/nf_conntrack_ftp ]] && setup_fail "nf_conntrack_ftp is loaded: it owns the helper name ftp"
else
  modprobe -a nf_conntrack_ftp nf_nat_ftp 2>/dev/null
  [[ -d /sys/module/nf_conntrack_ftp ]] || setup_fail "cannot load nf_conntrack_ftp"
fi
modprobe -a nf_conntrack_netlink nft_ct nft_objref nf_nat nft_chain_nat nft_masq veth 2>/dev/null
say "kernel $(uname -r); helper: $HELPER$([[ $HELPER == conntrackd ]] && echo " $(dpkg-query -W -f='${Version}' conntrackd 2>/dev/null) ($CTD_SO)"); curl $(curl -V | awk 'NR==1{print $2}'); pyftpdlib $("$PY" -c 'import pyftpdlib; print(pyftpdlib.__ver__)')"

# --- topology (as tests/e2e/ftp.sh) -------------------------------------------------
for n in $CLI $FW $SRV; do ip netns add "$n" || setup_fail "ip netns add"; inns "$n" ip link set lo up; done
ip link add c0 netns "$CLI" type veth peer name f0 netns "$FW" || setup_fail "veth"
ip link add s0 netns "$SRV" type veth peer name f1 netns "$FW" || setup_fail "veth"
inns "$CLI" ip addr add 192.0.2.1/24 dev c0;       inns "$CLI" ip addr add 2001:db8:1::1/64 dev c0 nodad
inns "$FW"  ip addr add 192.0.2.254/24 dev f0;     inns "$FW"  ip addr add 2001:db8:1::fe/64 dev f0 nodad
inns "$FW"  ip addr add 198.51.100.254/24 dev f1;  inns "$FW"  ip addr add 2001:db8:2::fe/64 dev f1 nodad
inns "$SRV" ip addr add 198.51.100.2/24 dev s0;    inns "$SRV" ip addr add 2001:db8:2::2/64 dev s0 nodad
for l in "$CLI c0" "$FW f0" "$FW f1" "$SRV s0"; do set -- $l; inns "$1" ip link set "$2" up; done
inns "$CLI" ip route add default via 192.0.2.254;  inns "$CLI" ip -6 route add default via 2001:db8:1::fe
inns "$SRV" ip route add default via 198.51.100.254; inns "$SRV" ip -6 route add default via 2001:db8:2::fe
inns "$FW" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

# --- FTP server (started first: python is slow under TCG) ---------------------------
mkdir -p "$W/root"
for f in a b c; do head -c 700 /dev/urandom | base64 > "$W/root/$f.txt"; done
inns "$SRV" "$PY" -c '
import sys, logging
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
a = DummyAuthorizer(); a.add_anonymous(sys.argv[1])
h = FTPHandler; h.authorizer = a; h.permit_foreign_addresses = False
logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(message)s")
FTPServer(("::", 21), h).serve_forever()' "$W/root" >"$W/ftpd.log" 2>&1 &

# --- the helper in the firewall's namespace -----------------------------------------
INET6=no            # is an IPv6 ("inet6") ftp helper registered?
INET6_WHY=""
ctd_start() { # families...: write the config, register the stubs, start conntrackd
  local q=0 fam
  : > "$W/conntrackd.log"
  { cat <<EOF
General {
	Systemd off
	HashSize 8192
	HashLimit 65535
	LogFile $W/conntrackd.log
	Syslog off
	LockFile $W/conntrackd.lock
	UNIX { Path $W/conntrackd.ctl }
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 8388608
}
Helper {
EOF
    for fam in "$@"; do cat <<EOF
	Type ftp $fam tcp {
		QueueNum $q
		QueueLen 10240
		Policy ftp {
			ExpectMax 4
			ExpectTimeout 300
		}
	}
EOF
      q=$((q+1)); done
    echo "}"; } > "$W/conntrackd.conf"
  # conntrackd 1.4.7 sends NFNL_MSG_CTHELPER_NEW without NFCTH_PRIV_DATA_LEN,
  # which the kernel requires to CREATE a helper: nfct creates the stub (it
  # reads priv_data_len from ct_helper_ftp.so), conntrackd then updates it.
  for fam in "$@"; do
    nfct add helper ftp "$fam" tcp >>"$W/nfct.log" 2>&1 || { echo "nfct add helper ftp $fam tcp: $(tail -1 "$W/nfct.log")"; return 1; }
  done
  rm -f "$W/conntrackd.lock"
  ip netns exec "$FW" conntrackd -C "$W/conntrackd.conf" >>"$W/conntrackd.out" 2>&1 &
  CTDPID=$!
  for _ in $(seq 100); do
    grep -q 'initialization completed' "$W/conntrackd.log" 2>/dev/null && break
    kill -0 "$CTDPID" 2>/dev/null || break
    sleep 0.1
  done
  if grep -q 'initialization completed' "$W/conntrackd.log" && kill -0 "$CTDPID" 2>/dev/null; then return 0; fi
  echo "conntrackd did not start: $(tr '\n' ' ' < "$W/conntrackd.log") $(tr '\n' ' ' < "$W/conntrackd.out")"
  kill "$CTDPID" 2>/dev/null; wait "$CTDPID" 2>/dev/null; CTDPID=
  for fam in "$@"; do nfct del helper ftp "$fam" tcp 2>/dev/null; done
  return 1
}
if [[ $HELPER == conntrackd ]]; then
  say "conntrackd (helper mode) in the firewall's namespace: Type ftp inet tcp (queue 0) + Type ftp inet6 tcp (queue 1)"
  if why=$(ctd_start inet inet6); then INET6=yes
  else
    INET6_WHY=$why; echo "  with inet6: $why"
    say "retrying with Type ftp inet tcp only"
    why=$(ctd_start inet) || setup_fail "conntrackd: $why"
    INET6_WHY="conntrackd refused the inet6 ftp helper: $INET6_WHY"
  fi
  # ctd_start ran in a command substitution: find the daemon again
  CTDPID=$(ip netns pids "$FW" | head -1)
  sed 's/^/  conntrackd.log: /' "$W/conntrackd.log"
  echo "  nfct helper list:"; nfct helper list 2>&1 | tr -d '\t' | tr '\n' ' ' | sed 's/}; */}\n/g' | sed '/^ *$/d; s/^/    /'
  [[ -n $CTDPID ]] && kill -0 "$CTDPID" 2>/dev/null || setup_fail "conntrackd is not running"
  nfct helper list 2>/dev/null | grep -q 'l3protonum = 10' && INET6=yes || { [[ $INET6 == yes ]] && INET6=no INET6_WHY="no inet6 helper in nfct helper list"; }
else
  INET6=yes
fi
echo "  IPv6 ftp helper registered: $INET6 ${INET6_WHY:+($INET6_WHY)}"

# --- firewall rules -----------------------------------------------------------------
# One `ct helper` object per family, explicit l3proto (no module auto-load),
# set at filter priority in prerouting (after conntrack's -200), as `ctlua
# rules` does. Forward: only NEW control connections, or RELATED/ESTABLISHED.
{ echo "table inet peers {"
  echo "	ct helper ftp4 { type \"ftp\" protocol tcp; l3proto ip; }"
  [[ $INET6 == yes ]] && echo "	ct helper ftp6 { type \"ftp\" protocol tcp; l3proto ip6; }"
  echo "	chain prerouting {"
  echo "		type filter hook prerouting priority filter; policy accept;"
  echo "		meta nfproto ipv4 tcp dport 21 ct helper set \"ftp4\""
  [[ $INET6 == yes ]] && echo "		meta nfproto ipv6 tcp dport 21 ct helper set \"ftp6\""
  echo "	}"
  cat <<'NFT'
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		tcp dport 21 ct state new accept
		counter comment "dropped"
	}
}
NFT
} > "$W/rules.nft"
inns "$FW" nft -f "$W/rules.nft" 2>"$W/nft.err" || { cat "$W/rules.nft" "$W/nft.err"; setup_fail "nft rejected the rules"; }
cat > "$W/nat.nft" <<'NFT'
table inet peersnat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "f1" masquerade
	}
}
NFT
[[ $HELPER == conntrackd && -d /sys/module/nf_conntrack_ftp ]] && setup_fail "nf_conntrack_ftp got loaded by the rules"

# --- observers: expectation events in fw, the server side's view of port 21 ---------
inns "$FW" stdbuf -oL conntrack -E expect >"$W/expect.log" 2>&1 &
inns "$SRV" tcpdump -l -n -A -s 0 -i s0 tcp port 21 >"$W/tcpdump.txt" 2>"$W/tcpdump.err" &
# data connections: their SYNs and RSTs on both sides, and the firewall's conntrack events
syn='tcp and not port 21 and (tcp[tcpflags] & (tcp-syn|tcp-rst) != 0)'
inns "$SRV" tcpdump -l -n -i s0 "$syn" >"$W/data-srv.txt" 2>"$W/data-srv.err" &
inns "$CLI" tcpdump -l -n -i c0 "$syn" >"$W/data-cli.txt" 2>"$W/data-cli.err" &
inns "$FW" stdbuf -oL conntrack -E -p tcp >"$W/ct-events.log" 2>&1 &
if [[ -n ${CTLUA_PEERS_NLMON:-} ]]; then  # debugging: the firewall's netlink traffic (verdicts, expectations)
  modprobe nlmon 2>/dev/null; inns "$FW" ip link add nlmon0 type nlmon && inns "$FW" ip link set nlmon0 up \
    && { inns "$FW" tcpdump -U -i nlmon0 -w "$W/netlink.pcap" 2>"$W/nlmon.err" & }
fi
for f in tcpdump data-srv data-cli; do
  for _ in $(seq 100); do grep -q "listening on" "$W/$f.err" && break; sleep 0.1; done
  grep -q "listening on" "$W/$f.err" || setup_fail "tcpdump did not start: $(cat "$W/$f.err")"
done
for _ in $(seq 300); do inns "$SRV" ss -ltn | grep -q ':21 ' && break; sleep 0.1; done
inns "$SRV" ss -ltn | grep -q ':21 ' || setup_fail "the FTP server did not start: $(tail -5 "$W/ftpd.log")"
say "ftpd, tcpdump and conntrack -E expect are up"

# --- scenarios ------------------------------------------------------------------------
size() { stat -c %s "$1" 2>/dev/null || echo 0; }
slice() { tail -c +"$(( $2 + 1 ))" "$1" | head -c "$(( $3 - $2 ))"; }  # file from to
# payload lines of a tcpdump -A capture (the header line repeats a command's start)
# (-A shows the CR LF as two dots: strip them)
payload() { grep -avE '^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]+ IP6? ' | grep -aoE "$1" | sed 's/\.\.$//'; }
ROWS=()
run() { # mode name url curl-args...
  local mode=$1 name=$2 url=$3; shift 3
  local id=$name; [[ $mode == snat ]] && id=snat-$name
  if [[ -n ${CTLUA_PEERS_ONLY:-} && " $CTLUA_PEERS_ONLY " != *" $id "* ]]; then return; fi
  local out="$W/out-$id"; mkdir -p "$out"
  local e0 t0 e1 t1 f0 f1 rc result
  e0=$(size "$W/expect.log"); t0=$(size "$W/tcpdump.txt"); f0=$(size "$W/ftpd.log")
  local x0 y0 z0 x1 y1 z1
  x0=$(size "$W/data-srv.txt"); y0=$(size "$W/data-cli.txt"); z0=$(size "$W/ct-events.log")
  local s0=$SECONDS
  inns "$CLI" timeout 30 curl -sv --fail-early --connect-timeout 5 --max-time 20 "$@" \
    "$url/a.txt" -o "$out/a.txt" "$url/b.txt" -o "$out/b.txt" "$url/c.txt" -o "$out/c.txt" 2>"$out/curl.log"
  rc=$?
  local secs=$((SECONDS - s0)) nok=0 f
  for f in a b c; do cmp -s "$out/$f.txt" "$W/root/$f.txt" && nok=$((nok+1)); done
  sleep 0.7   # let the event and capture lines arrive
  e1=$(size "$W/expect.log"); t1=$(size "$W/tcpdump.txt"); f1=$(size "$W/ftpd.log")
  slice "$W/expect.log" "$e0" "$e1" > "$out/expect.log"
  slice "$W/tcpdump.txt" "$t0" "$t1" > "$out/tcpdump.txt"
  slice "$W/ftpd.log" "$f0" "$f1" > "$out/ftpd.log"
  x1=$(size "$W/data-srv.txt"); y1=$(size "$W/data-cli.txt"); z1=$(size "$W/ct-events.log")
  slice "$W/data-srv.txt" "$x0" "$x1" > "$out/data-srv.txt"
  slice "$W/data-cli.txt" "$y0" "$y1" > "$out/data-cli.txt"
  slice "$W/ct-events.log" "$z0" "$z1" > "$out/ct-events.log"
  local nexp cmds conns sent seen note=""
  nexp=$(grep -c '\[NEW\]' "$out/expect.log")
  # data commands curl sent, in order, compressed: "EPSV,PASV,PASV,PASV"
  cmds=$(grep -aoE '^> (PORT|EPRT|PASV|EPSV)' "$out/curl.log" | cut -c3- | paste -sd, -)
  conns=$(grep -ac 'Re-using existing connection' "$out/curl.log")
  # what left the client, and what reached the server, for the first command
  sent=$(grep -aoE '^> (PORT|EPRT) [^[:cntrl:]]*' "$out/curl.log" | head -1 | cut -c3-)
  seen=$(payload '(PORT|EPRT) [^[:cntrl:]]*' < "$out/tcpdump.txt" | head -1)
  if [[ -z $sent ]]; then   # passive: the reply as the server sent it and as curl got it
    sent=$(grep -aoE '^< (227|229) [^[:cntrl:]]*' "$out/curl.log" | head -1 | cut -c3-)
    seen=$(payload '(227|229) [^[:cntrl:]]*' < "$out/tcpdump.txt" | head -1)
  fi
  local rw="-"
  if [[ $mode == snat && $name == *-port || $mode == snat && $name == *-eprt ]]; then
    if [[ $seen == *198,51,100,254,* || $seen == *"|198.51.100.254|"* || $seen == *"|2001:db8:2::fe|"* ]]; then rw="rewritten"
    elif [[ $seen == *"|2001:0db8:0002:0000:0000:0000:0000:00fe|"* ]]; then rw="rewritten(long)"  # %pI6, not %pI6c
    elif [[ -z $seen ]]; then rw="not seen"
    else rw="NOT rewritten"; fi
  elif [[ -n $seen && -n $sent && ${sent%% *} == 22[79] ]]; then
    [[ $seen == "$sent" ]] && rw="unchanged" || rw="changed"
  fi
  [[ $cmds == EPSV,PASV* ]] && note+="EPSV data connect failed, curl fell back to PASV; "
  grep -aq 'Rejected data connection to foreign address' "$out/ftpd.log" && note+="server: 501 foreign address; "
  grep -aqiE 'Failed EPSV attempt' "$out/curl.log" && note+="curl: Failed EPSV attempt; "
  if (( rc == 0 && nok == 3 )); then result=ok; else result="FAIL(rc=$rc)"; fi
  if [[ $HELPER == conntrackd ]] && ! kill -0 "$CTDPID" 2>/dev/null; then note+="conntrackd DIED; "; fi
  printf -v row '%-15s %-12s %-5s %-4s %-20s %-15s %s' "$id" "$result" "$nok/3" "$nexp" "${cmds:--}" "$rw" "${note%; }"
  ROWS+=("$row")
  say "$id: $result, $nok/3 files, $nexp expectations, ${secs}s; client: ${sent:--}; server side: ${seen:--}"
  sed 's/^/    expect: /' "$out/expect.log"
  grep -aE '^[<>] (PORT|EPRT|PASV|EPSV|2[0-9][0-9]|[45][0-9][0-9])' "$out/curl.log" | head -8 | sed 's/^/    curl: /'
  if [[ $result != ok ]]; then
    grep -aE '^\* ' "$out/curl.log" | tail -3 | sed 's/^/    curl: /'
    head -4 "$out/data-srv.txt" | sed 's/^/    data SYN\/RST, server side: /'
    head -4 "$out/data-cli.txt" | sed 's/^/    data SYN\/RST, client side: /'
    grep -a 'NEW' "$out/ct-events.log" | grep -v 'dport=21 ' | head -3 | sed 's/^/    fw conntrack: /'
  fi
}
scenarios() { # mode
  local V4=ftp://198.51.100.2 V6="ftp://[2001:db8:2::2]"
  # ipv4-pasv: --no-ftp-skip-pasv-ip makes curl dial the 227 address (curl
  # >= 7.74 uses the control connection's address by default).
  run "$1" ipv4-port "$V4" --ftp-port 192.0.2.1 --disable-eprt
  run "$1" ipv4-eprt "$V4" --ftp-port 192.0.2.1
  run "$1" ipv4-pasv "$V4" --disable-epsv --no-ftp-skip-pasv-ip
  run "$1" ipv4-epsv "$V4"
  run "$1" ipv6-eprt "$V6" -g --ftp-port 2001:db8:1::1
  run "$1" ipv6-epsv "$V6" -g
}
say "plain routing (no NAT)"
scenarios plain
say "the firewall masquerades the client (SNAT on f1)"
inns "$FW" nft -f "$W/nat.nft" 2>"$W/nft.err" || setup_fail "nft rejected the NAT table: $(cat "$W/nft.err")"
scenarios snat

# --- evidence and the table -------------------------------------------------------------
say "forward drops: $(inns "$FW" nft list chain inet peers forward | grep -o 'counter packets [0-9]* bytes [0-9]*')"
if [[ $HELPER == conntrackd ]]; then
  kill -0 "$CTDPID" 2>/dev/null && echo "  conntrackd still running (pid $CTDPID)" || echo "  conntrackd is NOT running any more"
  echo "  nf_conntrack_ftp loaded: $([[ -d /sys/module/nf_conntrack_ftp ]] && echo yes || echo no)"
  sed -n '1,200p' "$W/conntrackd.log" | grep -v 'initialization completed' | sed 's/^/  conntrackd.log: /' | tail -20
fi
echo
echo "=== RESULTS: helper $HELPER$([[ $HELPER == conntrackd ]] && echo " $(dpkg-query -W -f='${Version}' conntrackd 2>/dev/null)"), kernel $(uname -r), IPv6 helper registered: $INET6"
printf '%-15s %-12s %-5s %-4s %-20s %-15s %s\n' scenario transfer files exp "data commands" "NAT rewrite" notes
for r in "${ROWS[@]}"; do echo "$r"; done
echo "(exp = [NEW] events of conntrack -E expect in the firewall; NAT rewrite: PORT/EPRT as the server received it, or 227/229 server vs client)"
exit 0
