#!/usr/bin/env bash
# record-irc.sh - record real IRC DCC traffic as pcap fixtures, with the
# expectations the kernel's own IRC helper (nf_conntrack_irc) created for
# the same traffic: the oracle scripts/irc is compared with
# (tests/oracle/oracle_test.go).
#
#   tests/oracle/record-irc.sh [OUTDIR]     (root; default scripts/irc/testdata)
#
# Needs (Debian): ngircd python3 iproute2 iptables conntrack tcpdump.
# Two network namespaces on a veth pair (lib.sh): cli 192.0.2.1 and srv
# 192.0.2.2. ngircd serves on srv:6667. alice (cli) and bob (srv) are the
# scripted clients of ircdcc.py, real IRC clients of that server: alice
# announces DCC offers in PRIVMSGs to bob, the server relays them, and bob
# connects back to alice's announced port, from srv to cli. The kernel
# helper is attached in cli to TCP port 6667 and cli drops inbound
# connections that are not RELATED, so each DCC connection passes only
# through the kernel's expectation (checked first: an offer with the
# helper detached must fail). Scenarios:
#
#   ipv4-dcc-send   three DCC SEND offers, three files
#   ipv4-dcc-chat   two DCC CHAT offers
#   ipv4-dcc-mixed  a forged offer (another address), an offer in a
#                   NOTICE, an offer with port 0, then a real SEND: only
#                   the last one is expected
#
# For each it writes SCENARIO.pcap (TCP on cli's veth), SCENARIO.expect
# (the kernel's [NEW] expectation events as JSON lines) and
# SCENARIO.events (the raw `conntrack -E expect` output).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../../scripts/irc/testdata}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
PY=/usr/bin/python3
for t in ip iptables conntrack tcpdump ngircd $PY; do
  command -v $t >/dev/null || { echo "record-irc: missing $t (apt-get install ngircd python3 iproute2 iptables conntrack tcpdump)" >&2; exit 1; }
done
CLI=rec$$-cli SRV=rec$$-srv
W=$(mktemp -d)
. "$HERE/lib.sh"

ORACLE_IPV4_ONLY=1 oracle_topology tcp 6667 irc

cat >"$W/ngircd.conf" <<CONF
[Global]
	Name = irc.example.net
	Info = ctlua oracle
	Listen = 192.0.2.2
	Ports = 6667
	PidFile = $W/ngircd.pid
	MotdPhrase = ctlua
[Limits]
	MaxConnectionsIP = 0
	PingTimeout = 120
[Options]
	PAM = no
	DNS = no
	Ident = no
CONF
inns $SRV ngircd -n -f "$W/ngircd.conf" >"$W/ngircd.log" 2>&1 &
for _ in $(seq 50); do inns $SRV ss -ltn | grep -q ':6667 ' && break; sleep 0.1; done
inns $SRV ss -ltn | grep -q ':6667 ' || { echo "record-irc: ngircd did not start:" >&2; cat "$W/ngircd.log" >&2; exit 1; }

# dcc SCRIPT: bob waits for offers, alice makes them; prints bob's log.
# Each run has its own nicks: the server may not have freed the last ones.
run=0
dcc() {
  run=$((run + 1))
  inns $SRV $PY "$HERE/ircdcc.py" recv 192.0.2.2 bob$run >"$W/bob.log" 2>&1 &
  local bp=$!
  for _ in $(seq 50); do grep -q ready "$W/bob.log" && break; sleep 0.1; done
  timeout 60 ip netns exec $CLI $PY "$HERE/ircdcc.py" send 192.0.2.2 alice$run bob$run "$1" >"$W/alice.log" 2>&1 || true
  wait $bp || true
}

# Without the helper the DCC connection must fail: the firewall works.
printf 'send probe.bin 100\n' >"$W/probe"
inns $CLI iptables -t raw -D OUTPUT -p tcp --dport 6667 -j CT --helper irc
dcc "$W/probe"
grep -q "file 100 ok" "$W/bob.log" && { echo "record-irc: DCC passed without the helper: the firewall lets it through" >&2; exit 1; }
inns $CLI iptables -t raw -A OUTPUT -p tcp --dport 6667 -j CT --helper irc

record_once() { # scenario script-file wanted-lines
  local name=$1 script=$2 want=$3
  ip netns exec $CLI tcpdump -Z root -i v0 --immediate-mode -U -s 0 -w "$W/$name.pcap" 'tcp' 2>"$W/$name.tcpdump" &
  local tp=$!
  ip netns exec $CLI stdbuf -oL conntrack -E expect >"$W/$name.events" 2>/dev/null &
  local cp=$!
  for _ in $(seq 100); do grep -q "listening on" "$W/$name.tcpdump" 2>/dev/null && break; sleep 0.05; done
  sleep 0.2
  dcc "$script"
  sleep 0.5; kill $tp $cp; wait $tp $cp 2>/dev/null || true
  [[ $(grep -cE "^(file [0-9]+ ok|chat hello)" "$W/bob.log") == "$want" ]] ||
    { echo "record-irc: $name: want $want transfers, bob says:" >&2; cat "$W/bob.log" "$W/alice.log" >&2; exit 1; }
  capture_ok "$W/$name.pcap" "$W/$name.tcpdump" '\.6667: Flags \[S\]' || { echo "record-irc: $name: capture incomplete, recording again" >&2; return 1; }
  cp "$W/$name.pcap" "$OUT/$name.pcap"
  cp "$W/$name.events" "$OUT/$name.events"
  awk -f "$HERE/expect2json.awk" "$W/$name.events" >"$OUT/$name.expect"
  echo "$name: $(wc -l <"$OUT/$name.expect") expectations, $(stat -c %s "$OUT/$name.pcap") bytes"
}

printf 'send a.txt 3000\nsend b.bin 20000\nsend c.txt 1\n' >"$W/send"
printf 'chat\nchat\n' >"$W/chat"
cat >"$W/mixed" <<'S'
raw PRIVMSG bob4 :\x01DCC SEND forged.txt 3325256711 5000 10\x01\r\n
raw NOTICE bob4 :\x01DCC SEND notice.txt 3221225985 5001 10\x01\r\n
raw PRIVMSG bob4 :\x01DCC SEND zero.txt 3221225985 0 10\x01\r\n
sleep 0.3
send real.txt 500
S
record() { record_tries "record-irc: $1" record_once "$@"; }
record ipv4-dcc-send "$W/send" 3
record ipv4-dcc-chat "$W/chat" 2
record ipv4-dcc-mixed "$W/mixed" 1
