#!/usr/bin/env bash
# mcast.sh - end-to-end test of conntrackd's multicast helpers in Lua
# (scripts/mdns, scripts/slp, scripts/dhcpv6, scripts/ssdp) on the kernel
# path, and, with CTLUA_MCAST_PEER=1, the comparison with conntrackd's own
# helpers (ct_helper_mdns, _slp, _dhcpv6, _ssdp) on the same traffic.
#
# Runs as root on a kernel with nfnetlink_cthelper (inside tests/vm/run.sh on
# our machines). Two namespaces on a veth pair, both IPv4 and IPv6:
#   cli 192.0.2.1/24 2001:db8:1::1/64 - the querier and the firewall: the
#       helpers run here (ctlua run, or conntrackd), on the queries it sends;
#       its INPUT takes only ESTABLISHED/RELATED, its OUTPUT only
#       ESTABLISHED/RELATED and the queries (udp dport 427, 547, 1900, 5353)
#   srv 192.0.2.2/24 2001:db8:1::2/64 - the answering hosts: avahi-daemon
#       (host name mcsrv), dnsmasq (DHCPv6 server), miniupnpd (an IGD) and
#       a scripted SLP service agent (tests/e2e/mcast.py)
# Every answer is a unicast from srv to a multicast query of cli, so it
# passes cli's input filter only through the helper's expectation; the
# description miniupnpd's answer names (LOCATION: http://192.0.2.2:5000/...)
# is fetched over a new TCP connection, which passes cli's output filter
# only through the LOCATION expectation, and miniupnpd's NOTIFY to the
# callback of a SUBSCRIBE (a new connection to cli's port 8000) passes the
# input filter only through the SUBSCRIBE's expectation. The queries: a
# legacy unicast mDNS query (IPv4 224.0.0.251, IPv6 ff02::fb), an SLP
# SrvRqst (239.255.255.253, ff02::116), dhclient -6 (Solicit, Request,
# Release to ff02::1:2), upnpc -l (M-SEARCH, then the description and a
# SOAP call) and curl -X SUBSCRIBE (UPnP eventing, scripts/ssdp-event).
#
# Rounds: ctlua (every query answered), the control (the ctlua rules
# removed: nothing answered), and with CTLUA_MCAST_PEER=1 conntrackd; the
# expectations of each round are the [NEW] events of conntrack -E expect
# in cli, normalised (timeout dropped, the queriers' ephemeral ports as
# *, the master helper ssdp-event read as conntrackd's ssdp). The peer
# round passes when every expectation conntrackd created is among ctlua's
# (its queries' results are reported, not judged).
#
#   CTLUA_BIN=path/to/ctlua tests/e2e/mcast.sh
#   CTLUA_MCAST_PEER=1 ...          also conntrackd (tests/peers/conntrackd-mcast.sh)
#   CTLUA_MCAST_LOGDIR=DIR ...      keep the expectation logs in DIR
# Exit 0: passed. Output ends with "N passed, M failed".
set -uo pipefail
CTLUA=${CTLUA_BIN:?set CTLUA_BIN to the ctlua binary}
PEER=${CTLUA_MCAST_PEER:-0}
NS=ctm$$
CLI=$NS-cli SRV=$NS-srv NSES="$CLI $SRV"
W=$(mktemp -d /tmp/ctlua-e2e-mcast.XXXXXX)
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
MC="$PY $E2E/mcast.py"
for t in ip nft conntrack avahi-daemon dnsmasq dhclient miniupnpd upnpc curl $PY timeout; do
  need "$t" "tests/vm/run.sh installs avahi-daemon dnsmasq-base isc-dhcp-client miniupnpd-nftables miniupnpc"
done
if [[ $PEER == 1 ]]; then for t in conntrackd nfct; do need "$t" "apt-get install conntrackd nfct"; done; fi
for h in mdns slp dhcpv6 ssdp ssdp-event; do need_helper_kernel $h; done
[[ -d /sys/module/nf_conntrack_netlink ]] || die "nf_conntrack_netlink is missing"

# --- topology: no DAD, so that the link-local addresses are there at once ------------
for n in $CLI $SRV; do
  ip netns add "$n" || die "ip netns add $n"
  inns "$n" ip link set lo up
  inns "$n" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
done
ip link add c0 netns "$CLI" type veth peer name s0 netns "$SRV" || die "no veth"
inns "$CLI" ip addr add 192.0.2.1/24 dev c0; inns "$CLI" ip addr add 2001:db8:1::1/64 dev c0 nodad
inns "$SRV" ip addr add 192.0.2.2/24 dev s0; inns "$SRV" ip addr add 2001:db8:1::2/64 dev s0 nodad
inns "$CLI" ip link set c0 up; inns "$SRV" ip link set s0 up
inns "$CLI" ip route add 224.0.0.0/4 dev c0; inns "$SRV" ip route add 224.0.0.0/4 dev s0

# --- the answering hosts ----------------------------------------------------------------
cat >"$W/avahi.conf" <<'CONF'
[server]
host-name=mcsrv
domain-name=local
use-ipv4=yes
use-ipv6=yes
allow-interfaces=s0
enable-dbus=no
ratelimit-interval-usec=0
[publish]
publish-addresses=yes
publish-workstation=no
CONF
cat >"$W/miniupnpd.conf" <<'CONF'
ext_ifname=d0
listening_ip=s0
port=5000
enable_natpmp=no
enable_upnp=yes
secure_mode=no
system_uptime=yes
uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b
allow 1024-65535 192.0.2.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
CONF
inns "$SRV" ip link add d0 type dummy; inns "$SRV" ip addr add 198.51.100.2/24 dev d0; inns "$SRV" ip link set d0 up
inns "$SRV" avahi-daemon -f "$W/avahi.conf" --no-drop-root --no-chroot --no-rlimits --debug >"$W/avahi.log" 2>&1 &
inns "$SRV" $MC slp-sa 192.0.2.2 s0 >"$W/slp-sa.log" 2>&1 &
inns "$SRV" dnsmasq -k -C /dev/null --port=0 --interface=s0 --bind-interfaces \
  --dhcp-range=2001:db8:1::100,2001:db8:1::1ff,64,2m --dhcp-leasefile="$W/dnsmasq.leases" \
  --pid-file="$W/dnsmasq.pid" --log-dhcp --log-facility="$W/dnsmasq.log" >"$W/dnsmasq.out" 2>&1 &
inns "$SRV" miniupnpd -f "$W/miniupnpd.conf" -d -P "$W/miniupnpd.pid" >"$W/miniupnpd.log" 2>&1 &
inns "$CLI" $MC notify-sink 192.0.2.1 8000 >"$W/notify-sink.log" 2>&1 &
# wait_for FILE PATTERN WHAT: up to 60 s (python and avahi start slowly under TCG)
wait_for() {
  for _ in $(seq 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  bad "$3 did not start: $(tail -3 "$1")"; return 1
}
wait_for "$W/avahi.log" "Server startup complete" avahi-daemon
wait_for "$W/slp-sa.log" "slp-sa ready" "the SLP agent"
wait_for "$W/miniupnpd.log" "HTTP listening on port 5000" miniupnpd
wait_for "$W/notify-sink.log" "notify-sink ready" "the event callback server"
for _ in $(seq 300); do inns "$SRV" ss -lun | grep -q ':547 ' && break; sleep 0.1; done
inns "$SRV" ss -lun | grep -q ':547 ' || bad "dnsmasq does not listen on port 547: $(tail -3 "$W/dnsmasq.out")"

# --- cli's filter: only answers the helpers expect come in, only related TCP goes out -----
inns "$CLI" nft -f - <<'NFT' || die "nft rejected the filter"
table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif lo accept
		meta l4proto ipv6-icmp accept
		counter comment "dropped"
	}
	chain output {
		type filter hook output priority filter; policy drop;
		ct state established,related accept
		oif lo accept
		meta l4proto { ipv6-icmp, igmp } accept
		udp dport { 427, 547, 1900, 5353 } accept
		counter comment "dropped"
	}
}
NFT

# --- the queries: each returns 0 when answered -------------------------------------------
mdns4() { timeout -s KILL 30 ip netns exec "$CLI" $MC mdns-query 224.0.0.251 c0 mcsrv.local "$1" 2>&1 | grep -q "answer from 192.0.2.2 5353"; }
mdns6() { timeout -s KILL 30 ip netns exec "$CLI" $MC mdns-query ff02::fb c0 mcsrv.local "$1" 2>&1 | grep -q "answer from .* 5353"; }
slp4()  { timeout -s KILL 30 ip netns exec "$CLI" $MC slp-query 239.255.255.253 c0 "$1" 2>&1 | grep -q "answer from 192.0.2.2 427"; }
slp6()  { timeout -s KILL 30 ip netns exec "$CLI" $MC slp-query ff02::116 c0 "$1" 2>&1 | grep -q "answer from .* 427"; }
# dhclient -6 -1: Solicit, Advertise, Request, Reply; then -r: Release, Reply
dhcpv6() {
  local lf="$W/dhclient6.leases" pf="$W/dhclient6.pid" t=$(( $1 * 8 ))
  rm -f "$lf" "$pf"
  timeout -s KILL "$t" ip netns exec "$CLI" dhclient -6 -1 -lf "$lf" -pf "$pf" -sf /bin/true c0 >>"$W/dhclient.log" 2>&1
  local got=1
  grep -q 'iaaddr 2001:db8:1::' "$lf" 2>/dev/null && got=0
  [[ -s $pf ]] && kill "$(cat "$pf")" 2>/dev/null
  (( got == 0 )) && timeout -s KILL 20 ip netns exec "$CLI" dhclient -6 -r -lf "$lf" -pf "$pf" -sf /bin/true c0 >>"$W/dhclient.log" 2>&1
  return $got
}
# upnpc -l: the M-SEARCH's answer names the description ("desc:"), which it
# fetches over TCP to find the IGD's control URL ("IGD : http://...").
ssdp() {
  timeout -s KILL 30 ip netns exec "$CLI" upnpc -l >"$W/upnpc.out" 2>&1
  grep -q 'desc: http://192.0.2.2:5000/rootDesc.xml' "$W/upnpc.out" || return 1
  grep -q 'IGD : http://192.0.2.2:5000/ctl/' "$W/upnpc.out" || return 2
}
# curl -X SUBSCRIBE (over a LOCATION connection, expected after ssdp):
# miniupnpd sends its initial event to the callback, cli's port 8000.
event() {
  local n0
  n0=$(grep -c "NOTIFY from 192.0.2.2" "$W/notify-sink.log")
  timeout -s KILL 20 ip netns exec "$CLI" curl -s -m 15 -X SUBSCRIBE -H 'CALLBACK: <http://192.0.2.1:8000/evt>' \
    -H 'NT: upnp:event' -H 'TIMEOUT: Second-300' --connect-timeout 4 -o /dev/null -w '%{http_code}\n' http://192.0.2.2:5000/evt/IPConn >"$W/subscribe.out" 2>&1
  grep -q '^200' "$W/subscribe.out" || return 2
  for _ in $(seq 100); do
    (( $(grep -c "NOTIFY from 192.0.2.2" "$W/notify-sink.log") > n0 )) && return 0
    sleep 0.1
  done
  return 1
}
QUERIES="mdns4 mdns6 slp4 slp6 dhcpv6 ssdp event"

# round NAME TRIES: flushes cli's conntrack table, runs every query under
# conntrack -E expect, and leaves the results in R_<query> and the
# normalised [NEW] expectation events in $W/NAME.expect.
declare -A R
round() {
  local name=$1 tries=$2 q ep
  inns "$CLI" conntrack -F >/dev/null 2>&1; inns "$CLI" conntrack -F expect >/dev/null 2>&1
  inns "$CLI" stdbuf -oL conntrack -E expect >"$W/$name.events" 2>&1 &
  ep=$!
  sleep 0.5
  for q in $QUERIES; do
    local t0=$SECONDS
    $q "$tries"; R[$name-$q]=$?
    echo "  [$name] $q: $( (( ${R[$name-$q]} == 0 )) && echo answered || echo "NOT answered (${R[$name-$q]})") in $((SECONDS - t0)) s"
  done
  sleep 1; kill $ep; wait $ep 2>/dev/null
  normalise <"$W/$name.events" | sort -u >"$W/$name.expect"
  echo "  [$name] $(wc -l <"$W/$name.expect") distinct expectations:"; sed 's/^/    /' "$W/$name.expect"
}
# normalise: the [NEW] events without the timeout, ephemeral ports (not a
# well-known port of these protocols, nor a mask) as *.
normalise() {
  awk '$1 == "[NEW]" { $1 = ""; $2 = ""; for (i = 3; i <= NF; i++) if ($i ~ /^(sport|dport)=/) {
         split($i, kv, "="); if (kv[2] !~ /^(0|427|546|547|1900|5000|5353|8000|65535)$/) $i = kv[1] "=*" }
       sub(/^ +/, ""); sub(/helper=ssdp-event$/, "helper=ssdp"); print }'
}

# --- round 1: ctlua -------------------------------------------------------------------------
q=4
{ echo '[daemon]'; echo 'budget = "1s"'; echo 'log_level = "debug"'
  for h in mdns slp dhcpv6 ssdp ssdp-event; do
    cp "$E2E/../../scripts/$h/helper.lua" "$W/$h.lua"
    printf '[[helper]]\nscript = "%s"\nqueue = %d\n' "$W/$h.lua" $q; q=$((q + 1))
    [[ $h == ssdp ]] && printf '[helper.options]\nlocation_helper = "ssdp-event"\n'
  done; } >"$W/ctlua.toml"
start_ctlua "$CLI"
"$CTLUA" rules --config "$W/ctlua.toml" >"$W/ctlua-rules.nft" 2>&1
inns "$CLI" nft -f "$W/ctlua-rules.nft" && ok "ctlua rules attach mdns, slp, dhcpv6 and ssdp (ssdp-event by expectation)" \
  || { bad "ctlua rules do not load"; cat "$W/ctlua-rules.nft"; }
echo "--- round ctlua"
round ctlua 3
for q in $QUERIES; do
  (( ${R[ctlua-$q]} == 0 )) && ok "$q: answered through the dropping filter (ctlua's expectations)" \
    || bad "$q: not answered with ctlua (status ${R[ctlua-$q]})"
done
(( ${R[ctlua-ssdp]} == 2 )) && echo "  (ssdp: the answer came in, the LOCATION connection did not)"
(( ${R[ctlua-event]} == 2 )) && echo "  (event: the SUBSCRIBE failed: $(cat "$W/subscribe.out"))"

# --- round 2: the control, without the helpers ----------------------------------------------
inns "$CLI" nft delete table inet ctlua
echo "--- round control (no helper)"
round control 1
for q in $QUERIES; do
  (( ${R[control-$q]} != 0 )) && ok "$q: without the helper the answer is dropped" \
    || bad "$q: answered without the helper: the filter is not the proof"
done
[[ -s $W/control.expect ]] && bad "expectations without a helper: $(head -2 "$W/control.expect")"
no_script_failures
kill "$CTPID" 2>/dev/null; wait "$CTPID" 2>/dev/null; CTPID=

# --- round 3: conntrackd's helpers on the same queries --------------------------------------
ctd_round() {
  local so=/usr/lib/x86_64-linux-gnu/conntrack-tools
  [[ -e $so/ct_helper_mdns.so ]] || so=$(dirname "$(find /usr/lib -name ct_helper_mdns.so 2>/dev/null | head -1)")
  [[ -e $so/ct_helper_mdns.so ]] || { bad "conntrackd's helpers (ct_helper_*.so) are not installed"; return; }
  # name family l4 queue policy max timeout: conntrackd's own policies
  local types="mdns inet udp 10 mdns 8 30
mdns inet6 udp 11 mdns 8 30
slp inet udp 12 slp 8 16
slp inet6 udp 13 slp 8 16
dhcpv6 inet6 udp 14 dhcpv6 1 300
ssdp inet udp 15 ssdp 8 300
ssdp inet6 udp 16 ssdp 8 300
ssdp inet tcp 17 ssdp 8 300"
  { cat <<EOF
General {
	Systemd off
	LogFile $W/conntrackd.log
	Syslog off
	LockFile $W/conntrackd.lock
	UNIX { Path $W/conntrackd.ctl }
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 8388608
}
Helper {
EOF
    while read -r n f l qn p m t; do
      printf '\tType %s %s %s {\n\t\tQueueNum %s\n\t\tQueueLen 10240\n\t\tPolicy %s {\n\t\t\tExpectMax %s\n\t\t\tExpectTimeout %s\n\t\t}\n\t}\n' "$n" "$f" "$l" "$qn" "$p" "$m" "$t"
    done <<<"$types"
    echo "}"; } >"$W/conntrackd.conf"
  # conntrackd 1.4.7 cannot create a helper (no NFCTH_PRIV_DATA_LEN): nfct
  # creates the stubs, conntrackd updates them (tests/peers/README.md).
  while read -r n f l _; do
    inns "$CLI" nfct add helper "$n" "$f" "$l" >>"$W/nfct.log" 2>&1 || bad "nfct add helper $n $f $l: $(tail -1 "$W/nfct.log")"
  done <<<"$types"
  inns "$CLI" conntrackd -C "$W/conntrackd.conf" >"$W/conntrackd.out" 2>&1 &
  local ctd=$!
  wait_for "$W/conntrackd.log" "initialization completed" conntrackd || { cat "$W/conntrackd.out"; return; }
  inns "$CLI" nft -f - <<'NFT' || { bad "nft rejected conntrackd's helper rules"; return; }
table inet ctd {
	ct helper mdns4 { type "mdns" protocol udp; l3proto ip; }
	ct helper mdns6 { type "mdns" protocol udp; l3proto ip6; }
	ct helper slp4 { type "slp" protocol udp; l3proto ip; }
	ct helper slp6 { type "slp" protocol udp; l3proto ip6; }
	ct helper dhcpv6 { type "dhcpv6" protocol udp; l3proto ip6; }
	ct helper ssdp4 { type "ssdp" protocol udp; l3proto ip; }
	ct helper ssdp6 { type "ssdp" protocol udp; l3proto ip6; }
	chain output {
		type filter hook output priority filter; policy accept;
		meta nfproto ipv4 udp dport 5353 ct helper set "mdns4"
		meta nfproto ipv6 udp dport 5353 ct helper set "mdns6"
		meta nfproto ipv4 udp dport 427 ct helper set "slp4"
		meta nfproto ipv6 udp dport 427 ct helper set "slp6"
		meta nfproto ipv6 udp dport 547 ct helper set "dhcpv6"
		meta nfproto ipv4 udp dport 1900 ct helper set "ssdp4"
		meta nfproto ipv6 udp dport 1900 ct helper set "ssdp6"
	}
}
NFT
  echo "--- round conntrackd $(dpkg-query -W -f='${Version}' conntrackd 2>/dev/null)"
  round conntrackd 3
  kill -0 $ctd 2>/dev/null || bad "conntrackd died during the queries: $(tail -3 "$W/conntrackd.log")"
  kill $ctd 2>/dev/null; wait $ctd 2>/dev/null
  echo "  conntrackd answered: $(for q in $QUERIES; do printf '%s=%s ' $q "$( (( ${R[conntrackd-$q]} == 0 )) && echo yes || echo no)"; done)"
  local missing
  missing=$(comm -23 "$W/conntrackd.expect" "$W/ctlua.expect")
  [[ -s $W/conntrackd.expect ]] || bad "conntrackd created no expectation: the comparison proves nothing"
  if [[ -z $missing ]]; then
    ok "ctlua created every expectation conntrackd created ($(wc -l <"$W/conntrackd.expect") distinct; ctlua $(wc -l <"$W/ctlua.expect"))"
  else
    bad "expectations of conntrackd that ctlua did not create:"; echo "$missing" | sed 's/^/    /'
  fi
  local extra
  extra=$(comm -13 "$W/conntrackd.expect" "$W/ctlua.expect")
  [[ -n $extra ]] && { echo "  ctlua's expectations conntrackd did not create:"; echo "$extra" | sed 's/^/    /'; }
}
[[ $PEER == 1 ]] && ctd_round
if [[ -n ${CTLUA_MCAST_LOGDIR:-} ]]; then mkdir -p "$CTLUA_MCAST_LOGDIR" && cp "$W"/*.events "$W"/*.expect "$W"/*.log "$CTLUA_MCAST_LOGDIR/" 2>/dev/null; fi
on_failure() {
  echo "--- ctlua"; tail -20 "$W/ctlua.log"
  echo "--- filter"; inns "$CLI" nft list table inet filter | grep counter
  echo "--- upnpc"; tail -5 "$W/upnpc.out"
  echo "--- dhclient"; tail -5 "$W/dhclient.log"
}
finish
