#!/usr/bin/env bash
# ha.sh - an HA firewall pair: a helped FTP session survives a failover.
#
# Runs as root in tests/vm/run.sh (the host kernel lacks nfnetlink_cthelper).
# Topology, in network namespaces this script makes and deletes:
#
#   cli 192.0.2.1 --br0-- fw1 (.252) / fw2 (.253) --br0-- srv 198.51.100.2
#                         \__ sync link 10.9.0.1 -- 10.9.0.2 __/
#
# The virtual addresses 192.0.2.254 and 198.51.100.254 (the clients' and the
# server's gateway) sit on the active firewall; a failover moves them and
# flushes the neighbour caches (what keepalived's VRRP does; examples/ha ships
# its configuration). Each firewall runs conntrackd in sync mode (FTFW over
# UDP on the sync link, DisableExternalCache: entries go straight into the
# backup's kernel) and the helper, bound to the same queue number in its own
# namespace; the forward chain passes only new control connections and
# RELATED/ESTABLISHED traffic.
#
# Per NAT mode (plain, snat: the clients masqueraded to 198.51.100.254,
# dnat: the server behind 192.0.2.254), one FTP control connection through
# the active firewall: a transfer before the failover (active under SNAT, so
# the PORT rewrite changes the command's length; passive otherwise, DNAT
# rewriting the 227), a data connection announced (PASV: after PORT the server
# would connect at once) but not opened; failover; then on the other firewall the announced data
# connection, a passive and an active transfer each on a connection idle
# since before the failover (PASV or PORT is its first command after it),
# and a new passive and active transfer on the first one. Then (ctlua only:
# conntrackd has no SIP helper) two SIP calls from the same ports
# (tests/e2e/ha/sip_call.py), each with media across a failover of its own:
# media before it, the established flow and a flow announced before it (the
# 200 OK's SDP) after it, and the BYE through the new master. Each failover
# moves the addresses to the other firewall; each mode starts with the
# earlier mode's connections flushed (a NAT change).
#
#   CTLUA_BIN=path/to/ctlua tests/vm/run.sh bash tests/e2e/ha.sh
#     ctlua on both firewalls ([ha]: the second daemon adopts the helper, and
#     the daemons sync expectations and sequence adjustments): every step
#     must pass.
#   CTLUA_HA_HELPER=conntrackd ...  conntrackd's own FTP helper (helper mode,
#     ct_helper_ftp.so) on both firewalls, with ExpectationSync on: the same
#     steps, recorded (a lost step is a finding, not a failure of this
#     script); the table at the end says what it loses.
#   CTLUA_HA_HELPER=kernel ...      the kernel's nf_conntrack_ftp + nf_nat_ftp, with
#     ExpectationSync on: recorded, what the sync loses for the kernel's helper.
#   CTLUA_HA_HELPER=ctlua-nosync ... ctlua on both firewalls without [ha]'s
#     sync channel (on_exit keep), conntrackd with ExpectationSync on:
#     recorded like conntrackd's, to show what the channel adds.
#   CTLUA_HA_MODES="snat" ...       only these modes (default: plain snat dnat,
#     and with ctlua plain6: the FTP steps over IPv6, EPSV and EPRT, no NAT)
#   CTLUA_HA_KEEP_CONNS=1 ...       keep the connections of the earlier modes
#     at a mode's new NAT rules (not flushed): the DNAT'ed call's expected
#     media then clashes with the plain call's media flow (docs/ha.md)
# Exit 0: passed. Output ends with "N passed, M failed".
set -uo pipefail
IMPL=${CTLUA_HA_HELPER:-ctlua}
case $IMPL in ctlua|ctlua-nosync) CTLUA=${CTLUA_BIN:?set CTLUA_BIN to the ctlua binary} ;; conntrackd|kernel) CTLUA=${CTLUA_BIN:-} ;;
*) echo "FAIL: CTLUA_HA_HELPER must be ctlua, ctlua-nosync, conntrackd or kernel"; echo "0 passed, 1 failed"; exit 1 ;; esac
ASSERT=; [[ $IMPL == ctlua ]] && ASSERT=1  # the others are recorded: their losses are findings
PY=/usr/bin/python3
NS=ha$$
CLI=$NS-cli FW1=$NS-fw1 FW2=$NS-fw2 SRV=$NS-srv NSES="$CLI $FW1 $FW2 $SRV"
W=$(mktemp -d /tmp/ctlua-ha.XXXXXX)
. "$(dirname "$0")/lib.sh"
HA=$E2E/ha
echo "--- HA pair, helper: $IMPL"
for t in ip nft conntrack conntrackd "$PY"; do need "$t" "apt-get install conntrackd conntrack nftables python3-pyftpdlib on the HOST"; done
[[ $IMPL == conntrackd ]] && need nfct "apt-get install nfct on the HOST"
if [[ $IMPL == kernel ]]; then
  modprobe -a nf_conntrack_ftp nf_nat_ftp nf_conntrack_netlink 2>/dev/null
  [[ -d /sys/module/nf_conntrack_ftp && -d /sys/module/nf_nat_ftp ]] || die "cannot load nf_conntrack_ftp and nf_nat_ftp"
else
  echo "install nf_conntrack_ftp /bin/false" > /etc/modprobe.d/ctlua-ha.conf  # the guest's overlay: the name ftp stays free
  need_helper_kernel ftp
fi
[[ $IMPL == ctlua* ]] && need_helper_kernel sip
modprobe -a bridge veth nft_nat nft_chain_nat 2>/dev/null

# --- topology -------------------------------------------------------------------
for n in $NSES; do ip netns add "$n" || die "ip netns add $n"; inns "$n" ip link set lo up; done
inns "$CLI" ip link add br0 type bridge && inns "$SRV" ip link add br0 type bridge || die "no bridge"
for i in 1 2; do
  fw=$NS-fw$i
  ip link add c$i netns "$CLI" type veth peer name f0 netns "$fw" || die "no veth"
  ip link add s$i netns "$SRV" type veth peer name f1 netns "$fw" || die "no veth"
  inns "$CLI" ip link set c$i master br0 up; inns "$SRV" ip link set s$i master br0 up
  inns "$fw" ip addr add 192.0.2.25$((i+1))/24 dev f0; inns "$fw" ip addr add 198.51.100.25$((i+1))/24 dev f1
  inns "$fw" ip link set f0 up; inns "$fw" ip link set f1 up
  inns "$fw" sysctl -qw net.ipv4.ip_forward=1
  inns "$fw" ip addr add 2001:db8:1::25$((i+1))/64 dev f0 nodad; inns "$fw" ip addr add 2001:db8:2::25$((i+1))/64 dev f1 nodad
  inns "$fw" sysctl -qw net.ipv6.conf.all.forwarding=1
done
ip link add y0 netns "$FW1" type veth peer name y0 netns "$FW2" || die "no veth"
inns "$FW1" ip addr add 10.9.0.1/24 dev y0; inns "$FW2" ip addr add 10.9.0.2/24 dev y0
inns "$FW1" ip link set y0 up; inns "$FW2" ip link set y0 up
inns "$CLI" ip addr add 192.0.2.1/24 dev br0; inns "$CLI" ip link set br0 up
inns "$SRV" ip addr add 198.51.100.2/24 dev br0; inns "$SRV" ip link set br0 up
inns "$CLI" ip route add default via 192.0.2.254; inns "$SRV" ip route add default via 198.51.100.254
# IPv6 (the plain6 mode): 2001:db8:1::/64 the clients', 2001:db8:2::/64 the server's.
inns "$CLI" ip addr add 2001:db8:1::1/64 dev br0 nodad; inns "$SRV" ip addr add 2001:db8:2::2/64 dev br0 nodad
inns "$CLI" ip -6 route add default via 2001:db8:1::254; inns "$SRV" ip -6 route add default via 2001:db8:2::254

# activate FW OTHER: the virtual addresses move to FW (a VRRP transition).
activate() {
  inns "$2" ip addr del 192.0.2.254/24 dev f0 2>/dev/null; inns "$2" ip addr del 198.51.100.254/24 dev f1 2>/dev/null
  inns "$2" ip addr del 2001:db8:1::254/64 dev f0 2>/dev/null; inns "$2" ip addr del 2001:db8:2::254/64 dev f1 2>/dev/null
  inns "$1" ip addr add 192.0.2.254/24 dev f0; inns "$1" ip addr add 198.51.100.254/24 dev f1
  inns "$1" ip addr add 2001:db8:1::254/64 dev f0 nodad; inns "$1" ip addr add 2001:db8:2::254/64 dev f1 nodad
  inns "$CLI" ip neigh flush all; inns "$SRV" ip neigh flush all
  inns "$CLI" ip -6 neigh flush all; inns "$SRV" ip -6 neigh flush all
}
activate "$FW1" "$FW2"

# --- FTP server ---------------------------------------------------------------------
mkdir -p "$W/root"
for f in a b c d e f; do head -c 3000 /dev/urandom | base64 > "$W/root/$f.txt"; done
# ftpd ADDR LOG: pyftpdlib on ADDR:21 (0.0.0.0, and the IPv6 address for plain6).
ftpd() {
  inns "$SRV" "$PY" -c '
import sys, logging
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, PassiveDTP
from pyftpdlib.servers import FTPServer
a = DummyAuthorizer(); a.add_anonymous(sys.argv[1])
h = FTPHandler; h.authorizer = a; h.permit_foreign_addresses = False
PassiveDTP.timeout = 600  # a PASV waits across the failover (30 s by default: less than a loaded host takes)
logging.basicConfig(level=logging.WARNING)
FTPServer((sys.argv[2], 21), h).serve_forever()' "$W/root" "$1" >"$2" 2>&1 &
}
ftpd 0.0.0.0 "$W/ftpd.log"
ftpd 2001:db8:2::2 "$W/ftpd6.log"

# --- conntrackd (sync, and with CTLUA_HA_HELPER=conntrackd the helper) on each firewall ---
ctd_conf() { # N LOCAL PEER
  cat <<EOF
Sync {
	Mode FTFW {
		DisableExternalCache on
	}
	UDP {
		IPv4_address $2
		IPv4_Destination_Address $3
		Port 3780
		Interface y0
		Checksum on
	}
	Options {
		ExpectationSync $([[ $IMPL == ctlua ]] && echo off || echo on)
	}
}
General {
	Systemd off
	HashSize 8192
	HashLimit 65535
	LogFile $W/conntrackd$1.log
	Syslog off
	LockFile $W/conntrackd$1.lock
	UNIX { Path $W/conntrackd$1.ctl }
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 8388608
}
EOF
  [[ $IMPL == conntrackd ]] && cat <<EOF
Helper {
	Type ftp inet tcp {
		QueueNum 3
		QueueLen 10240
		Policy ftp {
			ExpectMax 1
			ExpectTimeout 300
		}
	}
}
EOF
}
# conntrackd 1.4.7 cannot create a helper (no NFCTH_PRIV_DATA_LEN): nfct does.
[[ $IMPL == conntrackd ]] && { nfct add helper ftp inet tcp 2>"$W/nfct.err" || die "nfct add helper: $(cat "$W/nfct.err")"; }
for i in 1 2; do
  ctd_conf $i 10.9.0.$i 10.9.0.$((3-i)) > "$W/conntrackd$i.conf"
  inns "$NS-fw$i" conntrackd -C "$W/conntrackd$i.conf" >"$W/conntrackd$i.out" 2>&1 &
done
for i in 1 2; do
  for _ in $(seq 150); do grep -q 'initialization completed' "$W/conntrackd$i.log" 2>/dev/null && break; sleep 0.1; done
  grep -q 'initialization completed' "$W/conntrackd$i.log" 2>/dev/null && ok "conntrackd on fw$i started (sync$([[ $IMPL == conntrackd ]] && echo " + ftp helper"))" \
    || die "conntrackd on fw$i did not start: $(cat "$W/conntrackd$i.log" "$W/conntrackd$i.out" 2>/dev/null | tail -5)"
done

# The kernel's expectation events and UDP connection events on both
# firewalls, with timestamps: shown when a SIP step fails (debug).
for i in 1 2; do
  inns "$NS-fw$i" conntrack -E expect -o timestamp >"$W/ev-expect$i.log" 2>&1 &
  inns "$NS-fw$i" conntrack -E -p udp -o timestamp >"$W/ev-udp$i.log" 2>&1 &
done

# --- ctlua on each firewall ------------------------------------------------------------
if [[ $IMPL == ctlua* ]]; then
  cp "$E2E/../../scripts/ftp/helper.lua" "$W/ftp.lua"; cp "$E2E/../../scripts/sip/helper.lua" "$W/sip.lua"
  for i in 1 2; do
    ha="[ha]                   # on_exit is \"keep\": the helper is shared
listen = \"10.9.0.$i:7000\"
peer = \"10.9.0.$((3-i)):7000\""
    [[ $IMPL == ctlua-nosync ]] && ha="# no [ha]: no sync channel"
    cat > "$W/ctlua$i.toml" <<CONF
[daemon]
budget = "1s"          # wall-clock: a TCG vCPU stalls past 50 ms
log_level = "debug"
on_exit = "keep"
$ha
[[helper]]
script = "$W/ftp.lua"
queue = 3
[helper.options]
pickup = true
[[helper]]
script = "$W/sip.lua"
queue = 4
[helper.options]
pickup = true
CONF
    ip netns exec "$NS-fw$i" "$CTLUA" run --config "$W/ctlua$i.toml" >"$W/ctlua$i.log" 2>&1 &
    eval "CT$i=\$!"
    for _ in $(seq 150); do grep -q "ctlua running" "$W/ctlua$i.log" && break; sleep 0.1; done
    grep -q "ctlua running" "$W/ctlua$i.log" && ok "ctlua on fw$i runs ($(grep -o 'registered kernel helper\|adopted kernel helper\|updated kernel helper' "$W/ctlua$i.log" | head -1))" \
      || { cat "$W/ctlua$i.log"; die "ctlua on fw$i did not start"; }
  done
  "$CTLUA" helpers >"$W/helpers.txt" 2>&1
  k=$(grep -c "^ftp ipv4/tcp queue 3 " "$W/helpers.txt"); (( k == 1 )) && ok "one kernel helper ftp (ipv4) on queue 3, shared by both" || { bad "kernel helpers: $k ftp ipv4 on queue 3"; cat "$W/helpers.txt"; }
fi

# --- rules on both firewalls -----------------------------------------------------------
base_rules() {
  local sip=""
  [[ $IMPL == ctlua* ]] && sip=1
  echo "table inet hahelper {"
  printf '\tct helper ftp4 {\n\t\ttype "ftp" protocol tcp\n\t\tl3proto ip\n\t}\n'
  [[ -n $sip ]] && printf '\tct helper sip4 {\n\t\ttype "sip" protocol udp\n\t\tl3proto ip\n\t}\n'
  printf '\tchain prerouting {\n\t\ttype filter hook prerouting priority filter; policy accept;\n'
  printf '\t\tmeta nfproto ipv4 tcp dport 21 ct helper set "ftp4"\n'
  [[ -n $sip ]] && printf '\t\tmeta nfproto ipv4 udp dport 5060 ct helper set "sip4"\n'
  printf '\t}\n}\n'
  # IPv6 FTP (the plain6 mode), with ctlua's helper: it registers both families.
  [[ -n $sip ]] && printf 'table inet hahelper6 {\n\tct helper ftp6 {\n\t\ttype "ftp" protocol tcp\n\t\tl3proto ip6\n\t}\n\tchain prerouting {\n\t\ttype filter hook prerouting priority filter; policy accept;\n\t\tmeta nfproto ipv6 tcp dport 21 ct helper set "ftp6"\n\t}\n}\n'
  cat <<'NFT'
table inet filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		tcp dport 21 ct state new accept
		udp dport 5060 ct state new accept
		counter comment "dropped"
	}
}
NFT
}
nat_rules() { # MODE
  echo "table ip hanat {"
  case $1 in
  snat) printf '\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\toifname "f1" snat to 198.51.100.254\n\t}\n' ;;
  dnat) printf '\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tiifname "f0" ip daddr 192.0.2.254 tcp dport 21 dnat to 198.51.100.2\n\t\tiifname "f0" ip daddr 192.0.2.254 udp dport 5060 dnat to 198.51.100.2\n\t}\n' ;;
  esac
  echo "}"
}
base_rules > "$W/rules.nft"
for fw in $FW1 $FW2; do inns "$fw" nft -f "$W/rules.nft" || die "nft rejected the rules"; done
for _ in $(seq 200); do inns "$SRV" ss -ltn | grep -q ':21 ' && break; sleep 0.1; done
inns "$SRV" ss -ltn | grep -q ':21 ' || die "FTP server did not start: $(tail -3 "$W/ftpd.log")"
echo "--- set up at ${SECONDS}s"

# wait_for SECONDS CMD...: run CMD until it succeeds, at most SECONDS.
wait_for() {
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do (( SECONDS >= end )) && return 1; sleep 0.2; done
}
CTFAM=ipv4  # the family of the mode's connections (plain6: ipv6)
has_master() { inns "$1" conntrack -L -f $CTFAM -p tcp --dport 21 2>/dev/null | grep -q "sport=$2 "; }
# has_expect FW L4 SPORT: an expectation of the master from the client's
# port SPORT (leftovers of earlier connections do not count).
has_expect() { inns "$1" conntrack -L expect -f $CTFAM 2>/dev/null | grep -qE "^[0-9]+ proto=$2 .*master-src=[^ ]+ master-dst=[^ ]+ sport=$3 "; }
nlogged() { grep -c "$2" "$W/ctlua$1.log"; }  # N PATTERN: how many lines of ctlua N's log match
logged() { [[ $(nlogged "$1" "$2") -gt ${3:-0} ]]; }  # N PATTERN [MORE-THAN]
# SIPEXP: ctlua's log line for a SIP expectation applied from the peer.
SIPEXP="applied the peer's expect\" master=\"udp"

# debug MODE: the state of both firewalls, once per mode.
debug() {
  [[ -e $W/$1/debugged ]] && return; touch "$W/$1/debugged"
  local i
  for i in 1 2; do
    echo "--- debug fw$i: conntrack"; inns "$NS-fw$i" conntrack -L -f $CTFAM 2>/dev/null | grep -v 'dport=3780\|dport=7000' | head -20 | sed 's/^/    /'
    echo "--- debug fw$i: expectations"; inns "$NS-fw$i" conntrack -L expect -f $CTFAM 2>/dev/null | sed 's/^/    /'
    echo "--- debug fw$i: ctlua log"; grep -v 'level=DEBUG msg="ha sync: \(applied\|stored\)' "$W/ctlua$i.log" 2>/dev/null | tail -25 | sed 's/^/    /'
    echo "--- debug fw$i: removals synced"; grep -E "unexpect|udp.*:5060" "$W/ctlua$i.log" 2>/dev/null | grep -v "ha sync: applied the peer.s expect\"" | tail -12 | cut -c1-300 | sed "s/^/    /"
  done
  echo "--- debug: ftpd"; tail -10 "$W/ftpd.log" | sed 's/^/    /'
  for i in 1 2; do echo "--- debug fw$i: conntrack -S"; inns "$NS-fw$i" conntrack -S 2>/dev/null | sed 's/^/    /'; done
  [[ $1 == *-sip ]] || return
  for i in 1 2; do
    echo "--- debug fw$i: expectation events (udp)"; grep "proto=17" "$W/ev-expect$i.log" | tail -40 | sed 's/^/    /'
    echo "--- debug fw$i: udp connection events (not the sync links)"; grep -v 'dport=3780\|dport=7000' "$W/ev-udp$i.log" | tail -40 | sed 's/^/    /'
    echo "--- debug fw$i: ctlua's sip lines"; grep -E "helper=sip|udp 19|udp 198" "$W/ctlua$i.log" | tail -40 | cut -c1-400 | sed 's/^/    /'
  done
}

ROWS=()
run_mode() { # MODE FROM TO (firewall numbers)
  local mode=$1 from=$2 to=$3 out=$W/$1 host=198.51.100.2
  mkdir -p "$out"; [[ $mode == dnat ]] && host=192.0.2.254
  CTFAM=ipv4; [[ $mode == plain6 ]] && { host=2001:db8:2::2; CTFAM=ipv6; }
  local FROM=$NS-fw$from TO=$NS-fw$to
  # A new NAT configuration, and, as after any NAT change, the connections
  # of the old one flushed on both nodes: they keep the NAT they were set
  # up with. Kept, they are state no real pair has: alice's SIP connection
  # of the plain mode (3600 s) carried the SNAT mode's call untranslated,
  # and her plain-mode media flow (198.51.100.2:31000 from 40010) is the
  # reply tuple the DNAT'ed call's expected media gets, which the kernel
  # then refuses to confirm (docs/ha.md, "Measured").
  for fw in $FW1 $FW2; do
    inns "$fw" nft delete table ip hanat 2>/dev/null; nat_rules "$mode" | inns "$fw" nft -f - || bad "$mode: nft NAT rules"
    [[ -n ${CTLUA_HA_KEEP_CONNS:-} ]] && continue
    inns "$fw" conntrack -F >/dev/null 2>&1; inns "$fw" conntrack -F expect >/dev/null 2>&1
  done
  local seq0=0 exp0=0
  local took0=0
  [[ $IMPL == ctlua* ]] && { seq0=$(nlogged "$to" "stored the peer's seqadj"); exp0=$(nlogged "$to" "applied the peer's expect")
    took0=$(nlogged "$to" "took over the peer's sequence adjustment"); }
  echo "--- $mode: control connection through fw$from at ${SECONDS}s"
  inns "$CLI" "$PY" "$HA/ftp_client.py" "$out" "$host" "$mode" >"$out/client.log" 2>&1 &
  local cpid=$!
  wait_for 60 test -e "$out/ready" || { bad "$mode: the client did not get to the failover"; cat "$out/client.log"; kill $cpid 2>/dev/null; return; }
  local sport; sport=$(cat "$out/sport")  # the first control connection's port
  # The backup must have what the failover needs: the master (conntrackd),
  # the announced data connection's expectation (ctlua's sync, or
  # conntrackd's ExpectationSync) and, under SNAT, the sequence adjustment.
  local synced="master"
  wait_for 30 has_master "$TO" "$sport" || synced="no master"
  wait_for 20 has_expect "$TO" 6 "$sport" && synced+=", expectation" || synced+=", no expectation"
  if [[ $IMPL == ctlua && ( $mode == snat || $mode == dnat ) ]]; then
    wait_for 20 logged "$to" "stored the peer's seqadj" "$seq0" && synced+=", seqadj" || synced+=", no seqadj"
  fi
  echo "--- $mode: on fw$to before the failover: $synced (at ${SECONDS}s)"
  inns "$TO" conntrack -L expect -f $CTFAM 2>/dev/null | sed 's/^/    fw'"$to"' expect: /'
  activate "$TO" "$FROM"
  local d0; d0=$(inns "$TO" nft list chain inet filter forward | grep -o 'counter packets [0-9]*' | awk '{print $3}')
  local t0=$SECONDS
  touch "$out/failed-over"
  wait $cpid
  echo "--- $mode: after the failover to fw$to, $((SECONDS - t0))s"
  sed 's/^/    /' "$out/client.log"
  local s name f res row="$mode"
  for s in "before a" "announce -" "idle-login -" "pending b" "first-pasv e" "first-port f" "passive c" "active d"; do
    set -- $s; name=$1 f=$2
    res=$(awk -v n="$name" '$1=="STEP" && $2==n {print $3}' "$out/client.log")
    if [[ $res == ok && $f != - ]] && ! cmp -s "$out/got-$f.txt" "$W/root/$f.txt"; then res=corrupt; fi
    [[ -z $res ]] && res=missing
    row+=" $name=$res"
    if [[ -n $ASSERT ]]; then
      [[ $res == ok ]] && ok "$mode: $name (fw$([[ $name == before || $name == announce || $name == idle-login ]] && echo "$from" || echo "$to"))" || { bad "$mode: $name: $res"; debug "$mode"; }
    fi
  done
  [[ $IMPL == ctlua* ]] && row+=" | sync: $synced; on fw$to: $(( $(nlogged "$to" "applied the peer's expect") - exp0 )) expectations created, $(( $(nlogged "$to" "stored the peer's seqadj") - seq0 )) adjustments received, $(( $(nlogged "$to" "took over the peer's sequence adjustment") - took0 )) taken over"
  [[ $IMPL == conntrackd || $IMPL == kernel ]] && row+=" | sync: $synced"
  row+="; fw$to dropped $(( $(inns "$TO" nft list chain inet filter forward | grep -o 'counter packets [0-9]*' | awk '{print $3}') - d0 )) packets after the failover"
  ROWS+=("$row")
}
# run_sip MODE FROM TO [CALL]: a SIP call through FROM, media across the
# failover to TO; CALL (2) names a mode's second call.
run_sip() {
  local mode=$1 from=$2 to=$3 call=${4:-} peer=198.51.100.2
  local out=$W/$1-sip$call label="$1 sip$call"
  mkdir -p "$out"; [[ $mode == dnat ]] && peer=192.0.2.254
  echo "--- $label: call through fw$from at ${SECONDS}s"
  local exp0=0
  [[ $IMPL == ctlua* ]] && exp0=$(nlogged "$to" "$SIPEXP")
  inns "$SRV" "$PY" "$HA/sip_call.py" server "$out" 198.51.100.2 192.0.2.1 >"$out/server.log" 2>&1 &
  local spid=$!
  wait_for 60 sh -c "ip netns exec $SRV ss -lun | grep -q ':5060 '" || { bad "$label: the SIP server did not start"; return; }
  # alice calls from the same ports every time, like a phone: a mode's
  # second call comes on the first one's SIP connection, with the first
  # one's media flows still there and its expectations (originals and
  # copies) on both nodes.
  local sport=5062
  inns "$CLI" "$PY" "$HA/sip_call.py" client "$out" 192.0.2.1 "$peer" $sport >"$out/client.log" 2>&1 &
  local cpid=$!
  wait_for 60 test -e "$out/sip-ready" || { bad "$label: the call did not get to the failover"; cat "$out/client.log" "$out/server.log"; kill $cpid $spid 2>/dev/null; return; }
  if [[ $IMPL == ctlua ]]; then  # this call's four (RTP and RTCP each way), not an earlier call's
    wait_for 20 logged "$to" "$SIPEXP" $((exp0 + 3)) || echo "    (not all four expectations of the call on fw$to before the failover)"
  else
    wait_for 20 has_expect "$NS-fw$to" 17 "$sport" || echo "    (no expectation of the call on fw$to before the failover)"
  fi
  inns "$NS-fw$to" conntrack -L expect 2>/dev/null | grep "proto=17" | sed 's/^/    fw'"$to"' expect: /' 
  echo "    failover at $(date +%T.%N | cut -c1-12)"
  activate "$NS-fw$to" "$NS-fw$from"
  touch "$out/sip-failed-over"
  wait $cpid; wait $spid
  sed 's/^/    client: /' "$out/client.log"; sed 's/^/    server: /' "$out/server.log"
  local name res row="$mode-sip$call"
  for name in before-media established-media expected-media bye; do
    res=$(cat "$out/client.log" "$out/server.log" | awk -v n="$name" '$1=="STEP" && $2==n {print $3}')
    [[ -z $res ]] && res=missing
    row+=" $name=$res"
    [[ -z $ASSERT ]] && continue
    [[ $res == ok ]] && ok "$label: $name (fw$([[ $name == before-media ]] && echo "$from" || echo "$to"))" || { bad "$label: $name: $res"; debug "$mode-sip$call"; }
  done
  [[ $IMPL == ctlua* ]] && row+=" | on fw$to: $(( $(nlogged "$to" "$SIPEXP") - exp0 )) expectations created"
  ROWS+=("$row")
}

modes="plain snat dnat"; [[ $IMPL == ctlua ]] && modes+=" plain6"
set -- ${CTLUA_HA_MODES:-$modes}
active=1
for mode in "$@"; do
  run_mode "$mode" $active $((3 - active)); active=$((3 - active))
  [[ $IMPL == ctlua* && $mode != plain6 ]] || continue  # sip_call.py is IPv4
  for call in "" 2; do run_sip "$mode" $active $((3 - active)) $call; active=$((3 - active)); done
done

echo "--- forward drops: fw1 $(inns "$FW1" nft list chain inet filter forward | grep -o 'counter packets [0-9]*'), fw2 $(inns "$FW2" nft list chain inet filter forward | grep -o 'counter packets [0-9]*')"
if [[ $IMPL == ctlua* ]]; then
  for i in 1 2; do
    k=$(nlogged "$i" "script failed"); (( k == 0 )) && ok "fw$i: no script failures" || bad "fw$i: $k script failures"
    # a helper that cannot remove expectations logs it (the sync's wrapper
    # once hid the remover)
    k=$(nlogged "$i" "cannot remove the media expectations")
    (( k == 0 )) && ok "fw$i: every removal a helper asked for worked" \
      || { bad "fw$i: $k removals a helper asked for failed"; grep "cannot remove" "$W/ctlua$i.log" | head -3; }
    # A copy of an expectation that was never used stays on the node that
    # did not see the call end; the node's own helper's expectation for the
    # same tuple, when it carries the traffic again, displaces it
    # (hasync's displace): none may fail.
    k=$(nlogged "$i" "cannot create expectation")
    (( k == 0 )) && ok "fw$i: every expectation a helper made was created" \
      || { bad "fw$i: $k expectations could not be created:"; grep "cannot create expectation" "$W/ctlua$i.log" | head -2 | cut -c1-300 | sed 's/^/    /'; }
    k=$(nlogged "$i" "removed the peer's leftover expectation")
    (( k == 0 )) || echo "    fw$i: $k leftover copies displaced by the helper's own expectations"
    grep -E "ha sync: (cannot|bad|the peer's connection never)" "$W/ctlua$i.log" | head -5 | sed "s/^/    fw$i: /"
  done
  for i in 1 2; do eval "kill -TERM \$CT$i"; eval "wait \$CT$i"; done
  for i in 1 2; do grep -E "ha sync stats" "$W/ctlua$i.log" | sed "s/^/    fw$i: /"; done
  "$CTLUA" helpers >"$W/helpers.txt" 2>&1
  grep -q "^ftp" "$W/helpers.txt" && ok "both daemons stopped, the shared helper stays registered (on_exit keep)" || bad "the helper is gone after the daemons stopped"
fi
for i in 1 2; do grep -iE 'warn|error' "$W/conntrackd$i.log" | head -3 | sed "s/^/    conntrackd$i: /"; done
echo
echo "=== RESULTS: helper $IMPL, kernel $(uname -r), conntrackd $(dpkg-query -W -f='${Version}' conntrackd 2>/dev/null)"
for r in "${ROWS[@]}"; do echo "  $r"; done
[[ -z $ASSERT ]] && ok "$IMPL run recorded (its losses are findings)"
finish
