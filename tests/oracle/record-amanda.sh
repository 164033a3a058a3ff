#!/usr/bin/env bash
# record-amanda.sh - record Amanda backup negotiations as pcap fixtures,
# with the expectations the kernel's own Amanda helper (nf_conntrack_amanda)
# created for the same traffic: the oracle scripts/amanda is compared with
# (tests/oracle/oracle_test.go).
#
#   tests/oracle/record-amanda.sh [OUTDIR]  (root; default scripts/amanda/testdata)
#
# Needs (Debian): python3 iproute2 iptables conntrack tcpdump. The peers
# are scripted from the protocol (amanda.py: amandad's bsdudp messages):
# a real amandad needs a configured backup server, tapes and inetd, more
# than a test namespace holds. Two namespaces on a veth pair (lib.sh):
# the backup server in cli (192.0.2.1 / 2001:db8::1) sends sendbackup
# requests to the client's UDP port 10080 in srv (192.0.2.2 /
# 2001:db8::2); the client answers "CONNECT DATA p MESG p INDEX p" (and
# "STATE p" every second time) and the server connects to those TCP
# ports. The kernel's helper is attached in cli to UDP 10080, and cli
# drops outgoing NEW TCP connections, so the server reaches the ports
# only through the kernel's expectations (checked first without the
# helper). Scenarios:
#
#   ipv4-sendbackup   two requests on one master: 3 + 4 expectations
#   ipv6-sendbackup   the same over IPv6
#
# For each it writes SCENARIO.pcap (cli's veth), SCENARIO.expect (the
# kernel's [NEW] expectation events as JSON lines) and SCENARIO.events.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../../scripts/amanda/testdata}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
PY=/usr/bin/python3
for t in ip iptables ip6tables conntrack tcpdump $PY; do
  command -v $t >/dev/null || { echo "record-amanda: missing $t (apt-get install python3 iproute2 iptables conntrack tcpdump)" >&2; exit 1; }
done
CLI=rec$$-cli SRV=rec$$-srv
W=$(mktemp -d)
. "$HERE/lib.sh"

oracle_topology udp 10080 amanda
for ipt in iptables ip6tables; do
  inns $CLI $ipt -A OUTPUT -p tcp -m conntrack --ctstate NEW -j DROP
done

# backup CLIENT-ADDR N: the client answers, the server makes N requests.
backup() {
  inns $SRV $PY "$HERE/amanda.py" client "$1" >"$W/client.log" 2>&1 &
  local cp=$!
  for _ in $(seq 50); do grep -q ready "$W/client.log" && break; sleep 0.1; done
  timeout -s KILL 60 ip netns exec $CLI $PY "$HERE/amanda.py" server "$1" "$2" >"$W/server.log" 2>&1 || true
  kill $cp 2>/dev/null || true; wait $cp 2>/dev/null || true
}

# Without the helper the server must not reach the client's ports.
inns $CLI iptables -t raw -D OUTPUT -p udp --dport 10080 -j CT --helper amanda
backup 192.0.2.2 1
grep -q "DATA stream" "$W/server.log" && { echo "record-amanda: a connection passed without the helper" >&2; exit 1; }
inns $CLI iptables -t raw -A OUTPUT -p udp --dport 10080 -j CT --helper amanda

record_once() { # scenario client-addr
  local name=$1 addr=$2
  ip netns exec $CLI tcpdump -Z root -i v0 --immediate-mode -U -s 0 -w "$W/$name.pcap" 'tcp or udp' 2>"$W/$name.tcpdump" &
  local tp=$!
  ip netns exec $CLI stdbuf -oL conntrack -E expect >"$W/$name.events" 2>/dev/null &
  local ep=$!
  for _ in $(seq 100); do grep -q "listening on" "$W/$name.tcpdump" 2>/dev/null && break; sleep 0.05; done
  sleep 0.2
  backup "$addr" 2
  sleep 0.5; kill $tp $ep; wait $tp $ep 2>/dev/null || true
  [[ $(grep -c " stream of the backup" "$W/server.log") == 7 ]] ||
    { echo "record-amanda: $name: want 7 streams, the server says:" >&2; cat "$W/server.log" "$W/client.log" >&2; exit 1; }
  capture_ok "$W/$name.pcap" "$W/$name.tcpdump" '\.10080: UDP' || { echo "record-amanda: $name: capture incomplete, recording again" >&2; return 1; }
  cp "$W/$name.pcap" "$W/$name.events" "$OUT/"
  awk -f "$HERE/expect2json.awk" "$W/$name.events" >"$OUT/$name.expect"
  echo "$name: $(wc -l <"$OUT/$name.expect") expectations, $(stat -c %s "$OUT/$name.pcap") bytes"
}
record() { record_tries "record-amanda: $1" record_once "$@"; }
record ipv4-sendbackup 192.0.2.2
record ipv6-sendbackup 2001:db8::2
