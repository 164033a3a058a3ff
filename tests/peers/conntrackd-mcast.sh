#!/usr/bin/env bash
# tests/peers/conntrackd-mcast.sh - conntrackd's multicast helpers
# (ct_helper_mdns, _slp, _dhcpv6, _ssdp of Debian's conntrackd, cthelper
# mode) against ctlua's scripts/mdns, slp, dhcpv6 and ssdp on the same real
# traffic (avahi-daemon, dnsmasq + dhclient -6, miniupnpd + upnpc, a
# scripted SLP agent), in the VM: tests/e2e/mcast.sh with
# CTLUA_MCAST_PEER=1. It fails when conntrackd created an expectation that
# ctlua did not (after normalising the queriers' ephemeral ports), or when
# conntrackd created none at all.
#
# Usage (root; the host kernel lacks nfnetlink_cthelper):
#   tests/peers/conntrackd-mcast.sh        builds ctlua unless CTLUA_BIN names
#                                          one, installs conntrackd + nfct on
#                                          the host if missing, runs the VM
#   CTLUA_MCAST_LOGDIR=DIR ...             keep the expectation events in DIR
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[[ $(id -u) == 0 ]] || { echo "run as root (apt-get, qemu)" >&2; exit 2; }
missing=()
for p in conntrackd nfct; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if (( ${#missing[@]} )); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -qq -o DPkg::Lock::Timeout=300 update >/dev/null
  apt-get -qq -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ -z ${CTLUA_BIN:-} ]]; then
  B=$(mktemp -d /tmp/ctlua-peers-mcast.XXXXXX)
  trap 'rm -rf "$B"' EXIT
  (cd "$ROOT" && PATH=/usr/local/go/bin:$PATH GOFLAGS=-buildvcs=false go build -o "$B/ctlua" ./cmd/ctlua)
  export CTLUA_BIN=$B/ctlua
fi
if [[ -n ${CTLUA_MCAST_LOGDIR:-} ]]; then
  mkdir -p "$CTLUA_MCAST_LOGDIR"; CTLUA_MCAST_LOGDIR=$(cd "$CTLUA_MCAST_LOGDIR" && pwd)
  export CTLUA_MCAST_LOGDIR CTLUA_VM_RWDIRS=${CTLUA_VM_RWDIRS:+$CTLUA_VM_RWDIRS:}$CTLUA_MCAST_LOGDIR
fi
export CTLUA_MCAST_PEER=1
"$ROOT/tests/vm/run.sh" bash "$ROOT/tests/e2e/mcast.sh"
