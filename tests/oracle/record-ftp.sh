#!/usr/bin/env bash
# record-ftp.sh - record real FTP traffic as pcap fixtures, with the
# expectations the kernel's own FTP helper (nf_conntrack_ftp) created for
# the same traffic: the oracle the Lua helper is compared with.
#
#   tests/oracle/record-ftp.sh [OUTDIR]     (root; default scripts/ftp/testdata)
#
# Two network namespaces joined by a veth pair: cli 192.0.2.1 / 2001:db8::1
# and srv 192.0.2.2 / 2001:db8::2. The kernel helper is attached to port
# 21 in cli, whose firewall drops NEW inbound connections that are not
# RELATED, so active transfers only work through the helper's
# expectations. pyftpdlib serves three small files; curl fetches all three
# over one control connection per scenario. For each scenario it writes
# SCENARIO.pcap (tcpdump on cli's veth) and SCENARIO.expect (the kernel's
# [NEW] expectation events, one JSON object per line).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../../scripts/ftp/testdata}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
PY=/usr/bin/python3
for t in ip iptables ip6tables conntrack curl tcpdump; do
  command -v $t >/dev/null || { echo "record-ftp: missing $t (apt-get install iproute2 iptables conntrack curl tcpdump)" >&2; exit 1; }
done
$PY -c 'import pyftpdlib' 2>/dev/null || { echo "record-ftp: missing python3-pyftpdlib" >&2; exit 1; }
NS=rec$$ CLI=rec$$-cli SRV=rec$$-srv
W=$(mktemp -d)
. "$HERE/lib.sh"

oracle_topology tcp 21 ftp

mkdir -p "$W/root"
for f in a b c; do printf 'file %s\n' "$f" > "$W/root/$f.txt"; head -c 300 /dev/zero | tr '\0' "$f" >> "$W/root/$f.txt"; done
inns $SRV $PY -c '
import sys, logging
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
a = DummyAuthorizer(); a.add_anonymous(sys.argv[1])
FTPHandler.authorizer = a
logging.basicConfig(level=logging.ERROR)
FTPServer(("::", 21), FTPHandler).serve_forever()' "$W/root" &
for _ in $(seq 50); do inns $SRV ss -ltn | grep -q ':21 ' && break; sleep 0.1; done

record() { # scenario url curl-args...: record_once, again when the capture is incomplete
  local try
  for try in 1 2 3; do record_once "$@" && return; done
  echo "record-ftp: $1: no complete capture in 3 tries" >&2; exit 1
}
record_once() {
  local name=$1 url=$2; shift 2
  ip netns exec $CLI tcpdump -Z root -i v0 --immediate-mode -U -s 0 -w "$W/$name.pcap" 'tcp' 2>"$W/$name.tcpdump" &
  local tp=$!
  ip netns exec $CLI stdbuf -oL conntrack -E expect >"$W/$name.events" 2>/dev/null &
  local cp=$!
  # The capture must hold the first packet: wait until tcpdump listens.
  for _ in $(seq 100); do grep -q "listening on" "$W/$name.tcpdump" 2>/dev/null && break; sleep 0.05; done
  sleep 0.2
  mkdir -p "$W/got-$name"
  timeout 20 ip netns exec $CLI curl -sS --max-time 15 "$@" "$url/a.txt" -o "$W/got-$name/a.txt" "$url/b.txt" -o "$W/got-$name/b.txt" \
    "$url/c.txt" -o "$W/got-$name/c.txt"
  sleep 0.5; kill $tp $cp; wait $tp $cp 2>/dev/null || true
  for f in a b c; do cmp -s "$W/got-$name/$f.txt" "$W/root/$f.txt" || { echo "record-ftp: $name: $f.txt differs" >&2; exit 1; }; done
  capture_ok "$W/$name.pcap" "$W/$name.tcpdump" '\.21: Flags \[S\]' || { echo "record-ftp: $name: capture incomplete, recording again" >&2; return 1; }
  cp "$W/$name.pcap" "$OUT/$name.pcap"
  awk -f "$HERE/expect2json.awk" "$W/$name.events" >"$OUT/$name.expect"
  echo "$name: $(wc -l <"$OUT/$name.expect") expectations, $(stat -c %s "$OUT/$name.pcap") bytes"
}
V4=ftp://192.0.2.2 V6='ftp://[2001:db8::2]'
record ipv4-port "$V4" --ftp-port 192.0.2.1 --disable-eprt
record ipv4-eprt "$V4" --ftp-port 192.0.2.1
record ipv4-pasv "$V4" --disable-epsv
record ipv4-epsv "$V4"
record ipv6-eprt "$V6" -g --ftp-port 2001:db8::1
record ipv6-epsv "$V6" -g
