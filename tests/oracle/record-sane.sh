#!/usr/bin/env bash
# record-sane.sh - record real SANE network scanning as pcap fixtures, with
# the expectations the kernel's own SANE helper (nf_conntrack_sane)
# created for the same traffic: the oracle scripts/sane is compared with
# (tests/oracle/oracle_test.go).
#
#   tests/oracle/record-sane.sh [OUTDIR]    (root; default scripts/sane/testdata)
#
# Needs (Debian): sane-utils libsane1 iproute2 iptables conntrack tcpdump.
# Two network namespaces on a veth pair (lib.sh): cli 192.0.2.1 /
# 2001:db8::1 and srv 192.0.2.2 / 2001:db8::2. saned (standalone, -l)
# serves the "test" backend on srv:6566; scanimage in cli scans through
# the "net" backend. The control connection goes to port 6566, and each
# scan's image comes on a second TCP connection from cli to the data port
# saned names in its SANE_NET_START reply. The kernel's helper is attached
# in cli, and cli drops outgoing NEW TCP connections to any other port, so
# the image only arrives through the kernel's expectation (checked first:
# a scan without the helper must fail). Scenarios:
#
#   ipv4-scan   scanimage --batch-count 3 (three SANE_NET_START on one
#               control connection) over IPv4
#   ipv6-scan   the same over IPv6
#
# For each it writes SCENARIO.pcap (TCP on cli's veth), SCENARIO.expect
# (the kernel's [NEW] expectation events as JSON lines) and
# SCENARIO.events (the raw `conntrack -E expect` output).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../../scripts/sane/testdata}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
for t in ip iptables ip6tables conntrack tcpdump saned scanimage; do
  command -v $t >/dev/null || { echo "record-sane: missing $t (apt-get install sane-utils libsane1 iproute2 iptables conntrack tcpdump)" >&2; exit 1; }
done
CLI=rec$$-cli SRV=rec$$-srv
W=$(mktemp -d)
. "$HERE/lib.sh"

oracle_topology tcp 6566 sane
for ipt in iptables ip6tables; do
  inns $CLI $ipt -A OUTPUT -p tcp -m conntrack --ctstate NEW ! --dport 6566 -j DROP
done

# saned's configuration: the test backend, clients of 192.0.2.0/24 and
# 2001:db8::/64; scanimage's: the net backend and the server.
mkdir -p "$W/srv" "$W/cli"
echo test >"$W/srv/dll.conf"; printf '192.0.2.0/24\n2001:db8::/64\n' >"$W/srv/saned.conf"
cp /etc/sane.d/test.conf "$W/srv/" 2>/dev/null || : >"$W/srv/test.conf"
echo net >"$W/cli/dll.conf"
SANE_CONFIG_DIR=$W/srv inns $SRV saned -l -e -d 2 >"$W/saned.log" 2>&1 &
for _ in $(seq 50); do inns $SRV ss -ltn | grep -q ':6566 ' && break; sleep 0.1; done
inns $SRV ss -ltn | grep -q ':6566 ' || { echo "record-sane: saned did not start:" >&2; cat "$W/saned.log" >&2; exit 1; }

# scan DEVICE N: N scans into $W/scan-*.pnm; fails unless all N arrived.
# The net backend contacts every host of net.conf: name only this one.
scan() {
  rm -f "$W"/scan-*.pnm
  local host=${1#net:}; host=${host%:test:0}; echo "$host" >"$W/cli/net.conf"
  SANE_CONFIG_DIR=$W/cli timeout -s KILL 30 ip netns exec $CLI scanimage -d "$1" --mode Gray --resolution 50 -x 30 -y 30 \
    --format=pnm --batch="$W/scan-%d.pnm" --batch-count="$2" >"$W/scanimage.log" 2>&1 || true
  [[ $(ls "$W"/scan-*.pnm 2>/dev/null | wc -l) == "$2" ]] && for f in "$W"/scan-*.pnm; do head -c 2 "$f" | grep -q P5 || return 1; done
}

# Without the helper the image must not arrive: the firewall works.
inns $CLI iptables -t raw -D OUTPUT -p tcp --dport 6566 -j CT --helper sane
if scan net:192.0.2.2:test:0 1; then echo "record-sane: a scan passed without the helper: the firewall lets it through" >&2; exit 1; fi
inns $CLI iptables -t raw -A OUTPUT -p tcp --dport 6566 -j CT --helper sane

record_once() { # scenario device
  local name=$1 dev=$2
  ip netns exec $CLI tcpdump -Z root -i v0 --immediate-mode -U -s 0 -w "$W/$name.pcap" 'tcp' 2>"$W/$name.tcpdump" &
  local tp=$!
  ip netns exec $CLI stdbuf -oL conntrack -E expect >"$W/$name.events" 2>/dev/null &
  local cp=$!
  for _ in $(seq 100); do grep -q "listening on" "$W/$name.tcpdump" 2>/dev/null && break; sleep 0.05; done
  sleep 0.2
  scan "$dev" 3 || { echo "record-sane: $name: the scans failed:" >&2; cat "$W/scanimage.log" >&2; exit 1; }
  sleep 0.5; kill $tp $cp; wait $tp $cp 2>/dev/null || true
  capture_ok "$W/$name.pcap" "$W/$name.tcpdump" '\.6566: Flags \[S\]' || { echo "record-sane: $name: capture incomplete, recording again" >&2; return 1; }
  cp "$W/$name.pcap" "$W/$name.events" "$OUT/"
  awk -f "$HERE/expect2json.awk" "$W/$name.events" >"$OUT/$name.expect"
  echo "$name: $(wc -l <"$OUT/$name.expect") expectations, $(stat -c %s "$OUT/$name.pcap") bytes"
}
record() { record_tries "record-sane: $1" record_once "$@"; }
record ipv4-scan net:192.0.2.2:test:0
record ipv6-scan 'net:[2001:db8::2]:test:0'
