#!/usr/bin/env bash
# record-tftp.sh - record real TFTP traffic as pcap fixtures, with the
# expectations the kernel's own TFTP helper (nf_conntrack_tftp) created for
# the same traffic: the oracle the Lua helper is compared with
# (tests/oracle/oracle_test.go, tests/oracle/tftp_test.go).
#
#   tests/oracle/record-tftp.sh [OUTDIR]    (root; default scripts/tftp/testdata)
#
# Needs (Debian): tftpd-hpa tftp-hpa curl iproute2 iptables conntrack
# tcpdump; missing packages are installed with apt-get when it is there.
# The kernel needs nf_conntrack_tftp (the CT target loads it).
#
# Two network namespaces joined by a veth pair: cli 192.0.2.1 / 2001:db8::1
# and srv 192.0.2.2 / 2001:db8::2. The kernel helper is attached to UDP
# port 69 in cli, whose firewall drops NEW inbound packets that are not
# RELATED: the server answers a request from a new port, so a transfer
# only works through the helper's expectation (checked first against a
# second server on port 1069, which has no helper and must fail).
# in.tftpd (tftpd-hpa) listens on [::]:69, a dual-stack socket serving
# both families. Scenarios:
#
#   ipv4-rrq, ipv6-rrq   tftp-hpa fetches three files  (3 RRQ)
#   ipv4-wrq, ipv6-wrq   tftp-hpa uploads three files  (3 WRQ)
#   ipv4-curl-rrq        curl fetches three files      (3 RRQ)
#   ipv6-curl-wrq        curl uploads three files      (3 WRQ)
#   retransmit/ipv4-rrq  the server drops the first RRQ, tftp-hpa resends it
#   retransmit/ipv6-wrq  the same with a WRQ
#
# tftp-hpa sends all requests of one run from the same client port (one
# master connection to port 69, one expectation per request, each used by
# the next data flow before the next request); curl opens a new socket,
# hence a new master connection, per URL, but may reuse the previous one
# for the next upload to the same host (seen once in ipv6-curl-wrq: two
# uploads from one port). For each scenario it writes
# SCENARIO.pcap (tcpdump on cli's veth, UDP only), SCENARIO.expect (the
# kernel's [NEW] expectation events, one JSON object per line, by
# expect2json.awk) and SCENARIO.events (the raw `conntrack -E expect`
# output, [NEW] and [DESTROY]: tftp_test.go compares the expectations'
# life cycle) and checks that every file arrived intact.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../../scripts/tftp/testdata}
[ "$(id -u)" = 0 ] || { echo "record-tftp: must run as root" >&2; exit 1; }

need() { # command package
  command -v "$1" >/dev/null && return
  if command -v apt-get >/dev/null; then
    echo "record-tftp: $1 missing, installing $2" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null </dev/null || true
  fi
  command -v "$1" >/dev/null || { echo "record-tftp: missing $1 (apt-get update && apt-get install $2)" >&2; exit 1; }
}
export PATH=$PATH:/usr/sbin:/sbin
need ip iproute2; need iptables iptables; need ip6tables iptables; need conntrack conntrack
need tcpdump tcpdump; need curl curl; need tftp tftp-hpa; need in.tftpd tftpd-hpa; need stdbuf coreutils
tftp -V 2>&1 | grep -q tftp-hpa || { echo "record-tftp: tftp is not tftp-hpa ($(command -v tftp))" >&2; exit 1; }
curl -V | grep -qw tftp || { echo "record-tftp: curl has no tftp support" >&2; exit 1; }

mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
CLI=rectftp$$-cli SRV=rectftp$$-srv
W=$(mktemp -d)
. "$HERE/lib.sh"
fail() { echo "record-tftp: $*" >&2; exit 1; }

oracle_topology udp 69 tftp

# Server root: three small files to fetch (c.txt spans two 512-byte
# blocks); uploads go to a directory per scenario (record makes it).
mkdir -p "$W/root" "$W/cli"
for f in a b; do { printf 'file %s\n' $f; head -c 300 /dev/zero | tr '\0' $f; } >"$W/root/$f.txt"; done
{ printf 'file c\n'; head -c 700 /dev/zero | tr '\0' c; } >"$W/root/c.txt"
for f in x y z; do { printf 'upload %s\n' $f; head -c 200 /dev/zero | tr '\0' $f; } >"$W/cli/$f.bin"; done
chmod -R a+rX "$W/root"

# -s: chroot to the root; -c: uploads may create files; -u root: no
# privilege drop (the work directory is root's); -L: foreground.
listening() { inns $SRV ss -lun | grep -q ":$1 "; }
serve() { # port: start in.tftpd, wait until it listens; $! is its pid
  ip netns exec $SRV in.tftpd -L -s -c -u root -a "[::]:$1" "$W/root" &
  for _ in $(seq 50); do listening $1 && return; sleep 0.1; done
  fail "in.tftpd is not listening on port $1"
}

# Sanity: without the helper (port 1069) the answer from the server's new
# port is NEW in cli and dropped, so the transfer must fail. The server
# (and its child, which would go on retransmitting into the captures) is
# stopped afterwards.
serve 1069; sanity=$!
(cd "$W/cli" && timeout 4 ip netns exec $CLI tftp -4 -m octet 192.0.2.2 1069 -c get a.txt >/dev/null 2>&1) || true
if cmp -s "$W/cli/a.txt" "$W/root/a.txt"; then
  fail "a transfer without the helper worked: cli's firewall does not need the expectation"
fi
rm -f "$W/cli/a.txt"
# SIGKILL: a transfer child of in.tftpd ignores SIGTERM.
kill -9 $(ps -o pid= --ppid $sanity) $sanity 2>/dev/null || true; wait $sanity 2>/dev/null || true
serve 69

record() { # scenario ...: record_once, again when the capture is incomplete
  local try
  for try in 1 2 3; do record_once "$@" && return; done
  fail "$1: no complete capture in 3 tries"
}
record_once() { # scenario rrq|wrq "files" client-command... (run in the client's directory)
  local name=$1 kind=$2 files=$3 f; shift 3
  local up=$W/root/${name//\//-} got=$W/got-$name # upload directory: the name, / as -
  mkdir -p "$(dirname "$W/$name")" "$(dirname "$OUT/$name")" "$got"
  [ "$kind" = wrq ] && mkdir -p "$up"
  ip netns exec $CLI tcpdump -Z root -i v0 --immediate-mode -U -s 0 -w "$W/$name.pcap" udp 2>"$W/$name.tcpdump" &
  local tp=$!
  ip netns exec $CLI stdbuf -oL conntrack -E expect >"$W/$name.events" 2>/dev/null &
  local cp=$!
  # The capture must hold the first packet: wait until tcpdump listens.
  for _ in $(seq 100); do grep -q "listening on" "$W/$name.tcpdump" 2>/dev/null && break; sleep 0.05; done
  sleep 0.2
  (cd "$got" && cp "$W"/cli/*.bin . && timeout 30 ip netns exec $CLI "$@") || fail "$name: client failed: $*"
  sleep 0.5; kill $tp $cp; wait $tp $cp 2>/dev/null || true
  for f in $files; do
    if [ "$kind" = rrq ]; then
      cmp -s "$got/$f" "$W/root/$f" || fail "$name: $f did not arrive intact"
    else
      cmp -s "$up/$f" "$W/cli/$f" || fail "$name: $f did not arrive intact"
    fi
  done
  grep -q '\[NEW\]' "$W/$name.events" || fail "$name: the kernel helper created no expectation"
  capture_ok "$W/$name.pcap" "$W/$name.tcpdump" '\.69: ' || { echo "record-tftp: $name: capture incomplete, recording again" >&2; return 1; }
  cp "$W/$name.pcap" "$OUT/$name.pcap"
  awk -f "$HERE/expect2json.awk" "$W/$name.events" >"$OUT/$name.expect"
  cp "$W/$name.events" "$OUT/$name.events"
  echo "$name: $(wc -l <"$OUT/$name.expect") expectations, $(grep -c '\[DESTROY\]' "$W/$name.events") destroyed," \
    "$(stat -c %s "$OUT/$name.pcap") bytes"
}
# tftp-hpa: -m octet (binary), "get f1 f2 f3" and "put f1 f2 f3 DIR"
# transfer several files in one run; curl gives up after 10 s per file.
record ipv4-rrq rrq "a.txt b.txt c.txt" tftp -4 -m octet 192.0.2.2 -c get a.txt b.txt c.txt
record ipv4-wrq wrq "x.bin y.bin z.bin" tftp -4 -m octet 192.0.2.2 -c put x.bin y.bin z.bin ipv4-wrq
record ipv6-rrq rrq "a.txt b.txt c.txt" tftp -6 -m octet 2001:db8::2 -c get a.txt b.txt c.txt
record ipv6-wrq wrq "x.bin y.bin z.bin" tftp -6 -m octet 2001:db8::2 -c put x.bin y.bin z.bin ipv6-wrq
record ipv4-curl-rrq rrq "a.txt b.txt c.txt" curl -sS --max-time 10 tftp://192.0.2.2/a.txt -o a.txt \
  tftp://192.0.2.2/b.txt -o b.txt tftp://192.0.2.2/c.txt -o c.txt
record ipv6-curl-wrq wrq "x.bin y.bin z.bin" curl -sS --max-time 10 -T '{x,y,z}.bin' 'tftp://[2001:db8::2]/ipv6-curl-wrq/'

# Retransmission: srv drops the first request, tftp-hpa (rexmt 1 s) sends
# it again on the same master connection while the first expectation is
# still pending. The kernel replaces the pending expectation (a [DESTROY]
# and a second [NEW] with the same tuple): two expectations, one data
# flow. Kept apart in testdata/retransmit/, as the generic oracle test
# wants one related connection per expectation; tests/oracle/tftp_test.go
# checks them.
for ipt in iptables ip6tables; do
  inns $SRV $ipt -I INPUT -p udp --dport 69 -m statistic --mode nth --every 2 --packet 0 -j DROP
done
record retransmit/ipv4-rrq rrq a.txt sh -c "printf 'mode octet\nrexmt 1\nget a.txt\nquit\n' | tftp -4 192.0.2.2 >/dev/null"
record retransmit/ipv6-wrq wrq x.bin sh -c "printf 'mode octet\nrexmt 1\nput x.bin retransmit-ipv6-wrq/x.bin\nquit\n' | tftp -6 2001:db8::2 >/dev/null"
