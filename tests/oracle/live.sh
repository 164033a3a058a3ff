#!/usr/bin/env bash
# live.sh - the kernel oracle on the running kernel: record real FTP,
# TFTP and SIP traffic anew with the kernel's own helpers attached
# (record-ftp.sh, record-tftp.sh, record-sip.sh), then replay the
# captures through the shipped Lua helpers and compare the expectations
# (go test ./tests/oracle with CTLUA_ORACLE_DIR). The committed fixtures
# are not touched.
#
#   sudo tests/oracle/live.sh        (tests/run.sh runs it as root)
#   CTLUA_ORACLE_KEEP=1 ...          keep the captures (the path is printed)
#
# Needs root, network namespaces, the kernel's nf_conntrack_ftp,
# nf_conntrack_tftp and nf_conntrack_sip, and the programs the recorders
# name (installed with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ -d /usr/local/go/bin ]] && export PATH=/usr/local/go/bin:$PATH
[[ $(id -u) == 0 ]] || { echo "live.sh: needs root (network namespaces, the kernel's helpers)" >&2; exit 1; }
need=()
for p in python3-pyftpdlib:/usr/lib/python3/dist-packages/pyftpdlib curl:/usr/bin/curl tcpdump:/usr/bin/tcpdump \
         conntrack:/usr/sbin/conntrack iptables:/usr/sbin/iptables iproute2:/usr/bin/ip; do
  [[ -e ${p#*:} ]] || need+=("${p%%:*}")
done
if (( ${#need[@]} )); then
  echo "live.sh: installing ${need[*]}"
  apt-get -qq update >/dev/null && apt-get -qq install -y --no-install-recommends "${need[@]}" >/dev/null
fi
for m in nf_conntrack_ftp nf_conntrack_tftp nf_conntrack_sip; do
  modprobe "$m" 2>/dev/null || [[ -d /sys/module/$m ]] || { echo "live.sh: kernel $(uname -r) has no $m" >&2; exit 1; }
done
dir=$(mktemp -d /tmp/ctlua-oracle.XXXXXX)
if [[ ${CTLUA_ORACLE_KEEP:-0} == 1 ]]; then echo "live.sh: captures kept in $dir"; else trap 'rm -rf "$dir"' EXIT; fi
tests/oracle/record-ftp.sh "$dir/ftp/testdata"
tests/oracle/record-tftp.sh "$dir/tftp/testdata"
tests/oracle/record-sip.sh "$dir/sip/testdata"
CTLUA_ORACLE_DIR=$dir go test -count=1 -v ./tests/oracle/ 2>&1 | grep -v '^=== RUN'
