#!/usr/bin/env bash
# record-sip.sh - record SIP calls with RTP as pcap fixtures, with the
# expectations the kernel's own SIP helper (nf_conntrack_sip) created for
# the same traffic: the oracle the Lua helper is compared with
# (tests/oracle/oracle_test.go).
#
#   tests/oracle/record-sip.sh [OUTDIR]     (root; default scripts/sip/testdata)
#
# Two network namespaces joined by a veth pair: cli 192.0.2.1 / 2001:db8::1
# ("alice") and srv 192.0.2.2 / 2001:db8::2 (registrar and peer "bob").
# The kernel helper is attached to UDP port 5060 in cli, whose firewall
# drops NEW inbound packets that are not RELATED, so bob's media and his
# incoming call only reach alice through the kernel's expectations.
# sipua.py (a scripted user agent: real SIP and SDP over UDP) plays both
# sides: REGISTER (contact port 5070), a call (INVITE 100 180 200 ACK) with
# RTP and RTCP both ways, a re-INVITE putting the call on hold with new
# media ports and media again, BYE, then bob calls alice's registered
# contact (a new connection through the registration's expectation; its
# own SDP is helped in turn), media both ways, and bob hangs up. The
# client exits 1 when media it waited for did not arrive. For each family
# it writes ipvN-call.pcap (tcpdump on cli's veth, UDP), ipvN-call.expect
# (the kernel's [NEW] expectation events, expect2json.awk) and
# ipvN-call.events (the raw `conntrack -E expect` output). The teardown
# scenario (sipua.py teardown: REGISTER refused, call refused, call
# cancelled, re-INVITE and BYE before any media) goes to
# teardown/ipvN-teardown.*: its expectations are all removed by the
# helper, none used, so oracle_test.go compares their life cycle
# ([NEW] and [DESTROY]) rather than one related connection each.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../../scripts/sip/testdata}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
PY=/usr/bin/python3
for t in ip iptables ip6tables conntrack tcpdump $PY; do
  command -v $t >/dev/null || { echo "record-sip: missing $t (apt-get install iproute2 iptables conntrack tcpdump python3)" >&2; exit 1; }
done
NS=rec$$ CLI=rec$$-cli SRV=rec$$-srv
W=$(mktemp -d)
. "$HERE/lib.sh"

oracle_topology udp 5060 sip

record() { # scenario client-addr server-addr: record_once, again when the capture is incomplete
  local try
  for try in 1 2 3; do record_once "$@" && return; done
  echo "record-sip: $1: no complete capture in 3 tries" >&2; exit 1
}
record_once() {
  local name=$1 me=$2 peer=$3 mode=${4:-}
  mkdir -p "$(dirname "$W/$name")"
  ip netns exec $CLI tcpdump -Z root -i v0 --immediate-mode -U -s 0 -w "$W/$name.pcap" 'udp' 2>"$W/$name.tcpdump" &
  local tp=$!
  ip netns exec $CLI stdbuf -oL conntrack -E expect >"$W/$name.events" 2>/dev/null &
  local cp=$!
  for _ in $(seq 100); do grep -q "listening on" "$W/$name.tcpdump" 2>/dev/null && break; sleep 0.05; done
  sleep 0.2
  inns $SRV $PY "$HERE/sipua.py" server "$peer" "$me" $mode &
  local sp=$!
  for _ in $(seq 100); do inns $SRV ss -lun | grep -q ":5060 " && break; sleep 0.05; done
  local rc=0
  timeout 30 ip netns exec $CLI $PY "$HERE/sipua.py" client "$me" "$peer" $mode || rc=$?
  wait $sp || rc=1
  sleep 0.5; kill $tp $cp; wait $tp $cp 2>/dev/null || true
  inns $CLI conntrack -F >/dev/null 2>&1 || true
  [[ $rc == 0 ]] || { echo "record-sip: $name: the call failed through the kernel's helper (rc $rc)" >&2; exit 1; }
  capture_ok "$W/$name.pcap" "$W/$name.tcpdump" '\.5060: ' || { echo "record-sip: $name: capture incomplete, recording again" >&2; return 1; }
  mkdir -p "$(dirname "$OUT/$name")"
  cp "$W/$name.pcap" "$OUT/$name.pcap"
  cp "$W/$name.events" "$OUT/$name.events"
  awk -f "$HERE/expect2json.awk" "$W/$name.events" >"$OUT/$name.expect"
  echo "$name: $(wc -l <"$OUT/$name.expect") expectations, $(stat -c %s "$OUT/$name.pcap") bytes"
}
record ipv4-call 192.0.2.1 192.0.2.2
record ipv6-call 2001:db8::1 2001:db8::2
record teardown/ipv4-teardown 192.0.2.1 192.0.2.2 teardown
record teardown/ipv6-teardown 2001:db8::1 2001:db8::2 teardown
