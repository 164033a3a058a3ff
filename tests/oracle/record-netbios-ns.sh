#!/usr/bin/env bash
# record-netbios-ns.sh - record real NetBIOS name queries to a broadcast
# address as pcap fixtures, with the expectations the kernel's own helper
# (nf_conntrack_netbios_ns) created for the same traffic: the oracle
# scripts/netbios-ns is compared with (tests/oracle/oracle_test.go).
#
#   tests/oracle/record-netbios-ns.sh [OUTDIR]  (root; default scripts/netbios-ns/testdata)
#
# Needs (Debian): samba (nmbd) samba-common-bin (nmblookup) iproute2
# iptables conntrack tcpdump. Two namespaces on a veth pair (lib.sh): cli
# 192.0.2.1/24 and srv 192.0.2.2/24, both with the subnet's broadcast
# address configured (brd +: without it the kernel's helper finds no
# interface for the broadcast and expects nothing). nmbd serves the name
# ORACLESRV in srv; nmblookup in cli asks the broadcast address
# 192.0.2.255 for it, and srv's nmbd answers by unicast from port 137,
# which cli's firewall (INPUT: only RELATED, ESTABLISHED) lets in only
# through the kernel's expectation (checked first without the helper).
# Scenarios:
#
#   ipv4-query       three queries (three nmblookup runs, three masters),
#                    while nmbd also broadcasts (not from cli: ignored)
#
# For each it writes SCENARIO.pcap (UDP on cli's veth), SCENARIO.expect,
# SCENARIO.events, and SCENARIO.iface: cli's interface address in the
# form of `ctlua replay --iface`, the capture metadata the oracle test
# hands to ctlua.iface.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../../scripts/netbios-ns/testdata}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
for t in ip iptables conntrack tcpdump nmbd nmblookup; do
  command -v $t >/dev/null || { echo "record-netbios-ns: missing $t (apt-get install samba samba-common-bin iproute2 iptables conntrack tcpdump)" >&2; exit 1; }
done
CLI=rec$$-cli SRV=rec$$-srv
W=$(mktemp -d)
. "$HERE/lib.sh"

ORACLE_IPV4_ONLY=1 oracle_topology udp 137 netbios-ns
# lib.sh adds the addresses without brd ("ip addr replace" does not set it):
# add them again with it.
inns $CLI ip addr del 192.0.2.1/24 dev v0; inns $CLI ip addr add 192.0.2.1/24 brd + dev v0
inns $SRV ip addr del 192.0.2.2/24 dev v1; inns $SRV ip addr add 192.0.2.2/24 brd + dev v1

conf() { # conf NAME ADDR DIR: a private smb.conf for nmbd or nmblookup
  mkdir -p "$3"/{lock,state,cache,private,pid}
  cat >"$3/smb.conf" <<CONF
[global]
	netbios name = $1
	workgroup = CTLUA
	interfaces = $2/24
	bind interfaces only = yes
	lock directory = $3/lock
	state directory = $3/state
	cache directory = $3/cache
	private dir = $3/private
	pid directory = $3/pid
	log file = $3/log
	name resolve order = bcast
CONF
}
conf ORACLESRV 192.0.2.2 "$W/srv"; conf ORACLECLI 192.0.2.1 "$W/cli"
inns $SRV nmbd -F --no-process-group -d 1 -s "$W/srv/smb.conf" >"$W/nmbd.log" 2>&1 &
# nmbd answers for its name once it registered it (several seconds of
# registration broadcasts): ask from cli, through the helper, until it does.
for _ in $(seq 30); do
  timeout -s KILL 10 ip netns exec $CLI nmblookup -s "$W/cli/smb.conf" -B 192.0.2.255 ORACLESRV 2>/dev/null |
    grep -q "192.0.2.2 ORACLESRV" && break; sleep 1
done
sleep 3  # and until its registration broadcasts are over
lookup() { timeout -s KILL 20 ip netns exec $CLI nmblookup -s "$W/cli/smb.conf" -B 192.0.2.255 "$1" >>"$W/lookup.log" 2>&1; }

# Without the helper no answer must come in.
inns $CLI iptables -t raw -D OUTPUT -p udp --dport 137 -j CT --helper netbios-ns
: >"$W/lookup.log"; lookup ORACLESRV || true
grep -q "192.0.2.2 ORACLESRV" "$W/lookup.log" && { echo "record-netbios-ns: an answer came in without the helper" >&2; exit 1; }
inns $CLI iptables -t raw -A OUTPUT -p udp --dport 137 -j CT --helper netbios-ns

record() { # scenario name count answers
  local name=$1 q=$2 n=$3 want=$4
  : >"$W/lookup.log"
  ip netns exec $CLI tcpdump -Z root -i v0 --immediate-mode -U -s 0 -w "$W/$name.pcap" 'udp' 2>"$W/$name.tcpdump" &
  local tp=$!
  ip netns exec $CLI stdbuf -oL conntrack -E expect >"$W/$name.events" 2>/dev/null &
  local ep=$!
  for _ in $(seq 100); do grep -q "listening on" "$W/$name.tcpdump" 2>/dev/null && break; sleep 0.05; done
  sleep 0.2
  for _ in $(seq $n); do lookup "$q" || true; done
  sleep 0.5; kill $tp $ep; wait $tp $ep 2>/dev/null || true
  [[ $(grep -c "192.0.2.2 $q" "$W/lookup.log") == "$want" ]] ||
    { echo "record-netbios-ns: $name: want $want answers:" >&2; cat "$W/lookup.log" >&2; exit 1; }
  grep -q "^0 packets dropped by kernel" "$W/$name.tcpdump" || { echo "record-netbios-ns: $name: tcpdump dropped packets" >&2; exit 1; }
  cp "$W/$name.pcap" "$W/$name.events" "$OUT/"
  awk -f "$HERE/expect2json.awk" "$W/$name.events" >"$OUT/$name.expect"
  echo "192.0.2.1/24,brd=+,name=v0" >"$OUT/$name.iface"
  echo "$name: $(wc -l <"$OUT/$name.expect") expectations, $(stat -c %s "$OUT/$name.pcap") bytes"
}
record ipv4-query ORACLESRV 3 3
