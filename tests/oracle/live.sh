#!/usr/bin/env bash
# live.sh - the kernel oracle on the running kernel: record real FTP,
# TFTP, SIP, IRC, SANE, Amanda, NetBIOS-NS and SNMP traffic anew with the
# kernel's own helpers attached (record-*.sh), then replay the captures
# through the shipped Lua helpers and compare the expectations (go test
# ./tests/oracle with CTLUA_ORACLE_DIR). The committed fixtures are not
# touched.
#
#   sudo tests/oracle/live.sh        (tests/run.sh runs it as root)
#   CTLUA_ORACLE_KEEP=1 ...          keep the captures (the path is printed)
#
# Needs root, network namespaces, the kernel's nf_conntrack_ftp, _tftp,
# _sip, _irc, _sane, _amanda, _netbios_ns and _snmp, and the programs the
# recorders name (installed with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ -d /usr/local/go/bin ]] && export PATH=/usr/local/go/bin:$PATH
[[ $(id -u) == 0 ]] || { echo "live.sh: needs root (network namespaces, the kernel's helpers)" >&2; exit 1; }
need=()
for p in python3-pyftpdlib:/usr/lib/python3/dist-packages/pyftpdlib curl:/usr/bin/curl tcpdump:/usr/bin/tcpdump \
         conntrack:/usr/sbin/conntrack iptables:/usr/sbin/iptables iproute2:/usr/bin/ip \
         ngircd:/usr/sbin/ngircd sane-utils:/usr/sbin/saned libsane1:/etc/sane.d/test.conf \
         samba:/usr/sbin/nmbd samba-common-bin:/usr/bin/nmblookup; do
  [[ -e ${p#*:} ]] || need+=("${p%%:*}")
done
if (( ${#need[@]} )); then
  echo "live.sh: installing ${need[*]}"
  apt-get -qq update >/dev/null && apt-get -qq install -y --no-install-recommends "${need[@]}" >/dev/null
fi
for m in nf_conntrack_ftp nf_conntrack_tftp nf_conntrack_sip nf_conntrack_irc nf_conntrack_sane nf_conntrack_amanda nf_conntrack_netbios_ns nf_conntrack_snmp; do
  modprobe "$m" 2>/dev/null || [[ -d /sys/module/$m ]] || { echo "live.sh: kernel $(uname -r) has no $m" >&2; exit 1; }
done
dir=$(mktemp -d /tmp/ctlua-oracle.XXXXXX)
if [[ ${CTLUA_ORACLE_KEEP:-0} == 1 ]]; then echo "live.sh: captures kept in $dir"; else trap 'rm -rf "$dir"' EXIT; fi
tests/oracle/record-ftp.sh "$dir/ftp/testdata"
tests/oracle/record-tftp.sh "$dir/tftp/testdata"
tests/oracle/record-sip.sh "$dir/sip/testdata"
tests/oracle/record-irc.sh "$dir/irc/testdata"
tests/oracle/record-sane.sh "$dir/sane/testdata"
tests/oracle/record-amanda.sh "$dir/amanda/testdata"
tests/oracle/record-netbios-ns.sh "$dir/netbios-ns/testdata"
tests/oracle/record-snmp.sh "$dir/snmp/testdata"
CTLUA_ORACLE_DIR=$dir go test -count=1 -v ./tests/oracle/ 2>&1 | grep -v '^=== RUN'
