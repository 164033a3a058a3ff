# rpc-tns-lib.sh - the servers, flows and firewall of the rpc and tns tests
# (tests/e2e/rpc-tns.sh, tests/peers/conntrackd-rpc-tns.sh). Source it
# after lib.sh, with CLI, FW, SRV (the topology of lib.sh) and W set.
#
# Servers on SRV (198.51.100.2 / 2001:db8:2::2): the real rpcbind and
# rpc.statd (program 100024 on TCP and UDP port 32765), in a private /run;
# the scripted TNS listeners (tns.py) on 1521 redirecting to the dedicated
# server ports 40123 (IPv4) and 40124 (IPv6).

PY=/usr/bin/python3
STATD_PORT=32765

# rpc_tns_servers: starts the servers and waits until they listen.
rpc_tns_servers() {
  mkdir -p "$W/run"
  cat >"$W/srv.sh" <<'SH'
mount -t tmpfs rpc-tns-run /run || exit 1
mkdir -p /run/rpcbind /run/statd/sm /run/statd/sm.bak && chown _rpc /run/rpcbind 2>/dev/null
rpcbind -f -w &
for _ in $(seq 100); do [ -S /run/rpcbind.sock ] && break; sleep 0.1; done
exec rpc.statd -F -d -L -P /run/statd -p "$1" -o $(($1 + 1))
SH
  inns "$SRV" unshare -m --propagation private bash "$W/srv.sh" $STATD_PORT >"$W/rpc-servers.log" 2>&1 &
  inns "$SRV" $PY "$E2E/tns.py" listener 198.51.100.2 198.51.100.2 40123 >"$W/tns4.log" 2>&1 &
  inns "$SRV" $PY "$E2E/tns.py" listener 2001:db8:2::2 2001:db8:2::2 40124 >"$W/tns6.log" 2>&1 &
  local _
  for _ in $(seq 300); do
    inns "$SRV" ss -ltn | grep -q ":$STATD_PORT " && grep -q ready "$W/tns4.log" && grep -q ready "$W/tns6.log" && break
    sleep 0.1
  done
  inns "$SRV" ss -ltn | grep -q ":$STATD_PORT " && inns "$SRV" ss -ltn | grep -q ":111 " \
    && grep -q ready "$W/tns4.log" && grep -q ready "$W/tns6.log"
}

# rpc_tns_firewall [dnat]: the firewall FW forwards new connections only
# to the control ports (RPC 111 over TCP and UDP, TNS 1521) and whatever
# is RELATED or ESTABLISHED; the helpers "rpc" (TCP, UDP) and "tns" are
# attached to those ports, IPv4 and IPv6. With dnat, the client side's
# 192.0.2.254 is translated to the server for ports 111 and 1521.
rpc_tns_firewall() {
  local f fam nf
  inns "$FW" nft delete table inet rpctns 2>/dev/null
  { echo "table inet rpctns {"
    for fam in ip ip6; do
      echo "	ct helper rpc-tcp-$fam { type \"rpc\" protocol tcp; l3proto $fam; }"
      echo "	ct helper rpc-udp-$fam { type \"rpc\" protocol udp; l3proto $fam; }"
      echo "	ct helper tns-$fam { type \"tns\" protocol tcp; l3proto $fam; }"
    done
    echo "	counter dropped { }"
    echo "	chain prerouting {"
    echo "		type filter hook prerouting priority filter; policy accept;"
    for fam in ip ip6; do
      nf=ipv4; [[ $fam == ip6 ]] && nf=ipv6
      echo "		meta nfproto $nf tcp dport 111 ct helper set \"rpc-tcp-$fam\""
      echo "		meta nfproto $nf udp dport 111 ct helper set \"rpc-udp-$fam\""
      echo "		meta nfproto $nf tcp dport 1521 ct helper set \"tns-$fam\""
    done
    echo "	}"
    cat <<'NFT'
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		meta l4proto { tcp, udp } th dport 111 ct state new accept
		tcp dport 1521 ct state new accept
		meta l4proto ipv6-icmp accept
		counter name "dropped"
	}
NFT
    [[ ${1:-} == dnat ]] && cat <<'NFT'
	chain natpre {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "f0" ip daddr 192.0.2.254 meta l4proto { tcp, udp } th dport 111 dnat ip to 198.51.100.2
		iifname "f0" ip daddr 192.0.2.254 tcp dport 1521 dnat ip to 198.51.100.2
	}
NFT
    echo "}"; } >"$W/rpctns.nft"
  inns "$FW" conntrack -F >/dev/null 2>&1; inns "$FW" conntrack -F expect >/dev/null 2>&1
  inns "$FW" nft -f "$W/rpctns.nft" || { cat "$W/rpctns.nft"; return 1; }
}

# The flows: each runs one client on CLI against ADDR and succeeds when the
# data connection (to the program, or the redirected TNS connection)
# answered. Each is bounded by FLOW_TIMEOUT seconds (default 20: a loaded,
# emulated host; a flow that passes takes a second or two).

# flow_sm_notify ADDR: the real sm-notify (nfs-common) tells ADDR's statd
# that this host rebooted: portmapper v2 GETPORT over UDP, then SM_NOTIFY
# over UDP to the port it got.
flow_sm_notify() {
  local d=$W/smn.$RANDOM
  mkdir -p "$d/sm" "$d/sm.bak"; printf '\0\0\0\5' >"$d/state"
  printf '0100007f 000186b5 00000001 00000003 00000000000000000000000000000000 %s 192.0.2.1\n' "$1" >"$d/sm/$1"
  timeout -s KILL "${FLOW_TIMEOUT:-20}" ip netns exec "$CLI" sm-notify -f -d -P "$d" >"$W/flow.log" 2>&1
  grep -q "notified successfully" "$W/flow.log"
}
# flow_pmap ADDR: pmap.py: portmapper v2 GETPORT over TCP, then a NULL
# call to statd over TCP.
flow_pmap() {
  timeout -s KILL "${FLOW_TIMEOUT:-20}" ip netns exec "$CLI" $PY "$E2E/pmap.py" "$1" 100024 1 >"$W/flow.log" 2>&1
}
# flow_rpcinfo NETID ADDR: the real rpcinfo pings statd over NETID after
# an rpcbind v4 GETADDR over the same transport.
flow_rpcinfo() {
  timeout -s KILL "${FLOW_TIMEOUT:-20}" ip netns exec "$CLI" rpcinfo -T "$1" "$2" 100024 1 >"$W/flow.log" 2>&1
  grep -q "ready and waiting" "$W/flow.log"
}
# flow_tns ADDR [SPLIT]: tns.py client: CONNECT, REDIRECT (with the
# address inline, or in the next DATA packet), the redirected connection.
flow_tns() {
  timeout -s KILL "${FLOW_TIMEOUT:-20}" ip netns exec "$CLI" $PY "$E2E/tns.py" client "$@" >"$W/flow.log" 2>&1
}

# SCENARIOS: name and flow of each scenario without NAT.
SCENARIOS=(
  "rpc-udp-getport|flow_sm_notify 198.51.100.2"
  "rpc-tcp-getport|flow_pmap 198.51.100.2"
  "rpc-udp-getaddr|flow_rpcinfo udp 198.51.100.2"
  "rpc-tcp-getaddr|flow_rpcinfo tcp 198.51.100.2"
  "rpc-udp6-getaddr|flow_rpcinfo udp6 2001:db8:2::2"
  "rpc-tcp6-getaddr|flow_rpcinfo tcp6 2001:db8:2::2"
  "tns-redirect|flow_tns 198.51.100.2"
  "tns-redirect-data|flow_tns 198.51.100.2 SPLIT"
  "tns6-redirect|flow_tns 2001:db8:2::2"
)
