#!/usr/bin/env bash
# record-snmp.sh - record SNMP requests to a broadcast address as pcap
# fixtures, with the expectations the kernel's own helper
# (nf_conntrack_snmp) created for the same traffic: the oracle scripts/snmp
# is compared with (tests/oracle/oracle_test.go).
#
#   tests/oracle/record-snmp.sh [OUTDIR]    (root; default scripts/snmp/testdata)
#
# Needs (Debian): python3 iproute2 iptables conntrack tcpdump. The peers
# are scripted (snmpbcast.py): net-snmp does neither side of SNMP
# broadcast discovery (snmpget cannot send to a broadcast address, snmpd
# cannot answer one; see snmpbcast.py). Three namespaces: cli
# 192.0.2.1/24 and two agents, srv 192.0.2.2/24 and srv2 192.0.2.3/24,
# on a bridge in srv, every address with its broadcast address (brd +).
# The client in cli sends GetRequests to 192.0.2.255:161; both agents
# answer by unicast from their own address, port 161, which cli's
# firewall (INPUT: only RELATED, ESTABLISHED) lets in only through the
# kernel's expectation (checked first without the helper). Scenario:
#
#   ipv4-get   three requests (three sockets, three masters), two answers each
#
# It writes SCENARIO.pcap, SCENARIO.expect, SCENARIO.events,
# SCENARIO.iface (cli's address, the capture metadata for ctlua.iface) and
# SCENARIO.related (the answers that passed the kernel's firewall: the
# related connections the replay must show).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../../scripts/snmp/testdata}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
PY=/usr/bin/python3
for t in ip iptables conntrack tcpdump $PY; do
  command -v $t >/dev/null || { echo "record-snmp: missing $t (apt-get install python3 iproute2 iptables conntrack tcpdump)" >&2; exit 1; }
done
CLI=rec$$-cli SRV=rec$$-srv SRV2=rec$$-srv2
W=$(mktemp -d)
. "$HERE/lib.sh"
trap 'ip netns pids $SRV2 2>/dev/null | xargs -r kill 2>/dev/null; ip netns del $SRV2 2>/dev/null; cleanup' EXIT

ORACLE_IPV4_ONLY=1 oracle_topology udp 161 snmp
# Addresses again with brd + (lib.sh adds them without), and the second
# agent behind a bridge in srv.
inns $CLI ip addr del 192.0.2.1/24 dev v0; inns $CLI ip addr add 192.0.2.1/24 brd + dev v0
inns $SRV ip addr del 192.0.2.2/24 dev v1
ip netns add $SRV2; inns $SRV2 ip link set lo up
ip link add v2 netns $SRV2 type veth peer name v3 netns $SRV
inns $SRV ip link add br0 type bridge; inns $SRV ip link set v1 master br0; inns $SRV ip link set v3 master br0
inns $SRV ip addr add 192.0.2.2/24 brd + dev br0; inns $SRV2 ip addr add 192.0.2.3/24 brd + dev v2
for l in "$SRV br0" "$SRV v3" "$SRV2 v2"; do set -- $l; inns $1 ip link set $2 up; done

inns $SRV $PY "$HERE/snmpbcast.py" agent 192.0.2.2 >"$W/agent1.log" 2>&1 &
inns $SRV2 $PY "$HERE/snmpbcast.py" agent 192.0.2.3 >"$W/agent2.log" 2>&1 &
for _ in $(seq 50); do grep -q ready "$W/agent1.log" && grep -q ready "$W/agent2.log" && break; sleep 0.1; done
sleep 1  # the bridge forwards once its ports are up
get() { timeout -s KILL 30 ip netns exec $CLI $PY "$HERE/snmpbcast.py" get 192.0.2.255 "$1" >"$W/get.log" 2>&1 || true; }

# Without the helper no answer must come in.
inns $CLI iptables -t raw -D OUTPUT -p udp --dport 161 -j CT --helper snmp
get 1
grep -q "answer from" "$W/get.log" && { echo "record-snmp: an answer came in without the helper" >&2; exit 1; }
inns $CLI iptables -t raw -A OUTPUT -p udp --dport 161 -j CT --helper snmp

name=ipv4-get
ip netns exec $CLI tcpdump -Z root -i v0 --immediate-mode -U -s 0 -w "$W/$name.pcap" 'udp' 2>"$W/$name.tcpdump" &
tp=$!
ip netns exec $CLI stdbuf -oL conntrack -E expect >"$W/$name.events" 2>/dev/null &
ep=$!
for _ in $(seq 100); do grep -q "listening on" "$W/$name.tcpdump" 2>/dev/null && break; sleep 0.05; done
sleep 0.2
get 3
sleep 0.5; kill $tp $ep; wait $tp $ep 2>/dev/null || true
[[ $(grep -c "answer from 192.0.2.2 " "$W/get.log") == 3 && $(grep -c "answer from 192.0.2.3 " "$W/get.log") == 3 ]] ||
  { echo "record-snmp: want 3 answers from each agent:" >&2; cat "$W/get.log" >&2; exit 1; }
grep -q "^0 packets dropped by kernel" "$W/$name.tcpdump" || { echo "record-snmp: tcpdump dropped packets" >&2; exit 1; }
cp "$W/$name.pcap" "$W/$name.events" "$OUT/"
awk -f "$HERE/expect2json.awk" "$W/$name.events" >"$OUT/$name.expect"
echo "192.0.2.1/24,brd=+,name=v0" >"$OUT/$name.iface"
grep -c "answer from" "$W/get.log" >"$OUT/$name.related"  # what passed the kernel's firewall
echo "$name: $(wc -l <"$OUT/$name.expect") expectations, $(stat -c %s "$OUT/$name.pcap") bytes"
