#!/usr/bin/env bash
# deps.sh - install, as root, the Debian packages the tests use on the host
# that are missing: nft (README examples are checked with nft -c), the
# tools of the kernel oracle (tests/oracle/live.sh) and of the VM suite
# (tests/vm/run.sh installs its own list too). Does nothing when all are
# there.
#   sudo tests/deps.sh
set -euo pipefail
pkgs=(nftables iptables iproute2 conntrack tcpdump curl python3-pyftpdlib tftpd-hpa tftp-hpa
      conntrackd nfct)  # tests/e2e/ha.sh
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
(( ${#missing[@]} )) || exit 0
[[ $(id -u) == 0 ]] || { echo "deps.sh: missing ${missing[*]}; run as root to install them" >&2; exit 1; }
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -qq -o DPkg::Lock::Timeout=300 update >/dev/null
apt-get -qq -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}" >/dev/null
