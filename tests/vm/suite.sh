#!/usr/bin/env bash
# suite.sh - the real-kernel suite over the kernel matrix: builds ctlua and
# the kernel integration test binaries on the host, then runs each group in
# its own VM (helpers are global to the kernel, so groups must not share one).
#
# Debian 12's kernel (bookworm, the default of run.sh) runs every group:
# kernel features, the nfnetlink_cthelper client, the seed walkthrough, FTP
# (tests/e2e/ftp.sh) plain, with the clients masqueraded and with the server
# behind DNAT, NAT port hunting (tests/e2e/ftp-hunt.sh), TFTP
# (tests/e2e/tftp.sh, plain, SNAT and DNAT in one VM), the daemon killed
# under traffic (tests/e2e/kill.sh), the kernel twins IRC, SANE, Amanda
# (tests/e2e/kernel-twins.sh), NetBIOS-NS and SNMP (tests/e2e/broadcast.sh),
# SIP calls (tests/e2e/sip.sh), operations (tests/e2e/observe.sh: status,
# expect, reload, metrics; tests/e2e/operate.sh: non-root, its own nftables
# table, notify and watchdog, restart after SIGKILL), conntrackd's multicast
# helpers (tests/e2e/mcast.sh, with conntrackd on the same traffic), RPC
# and TNS (tests/e2e/rpc-tns.sh, tests/peers/conntrackd-rpc-tns.sh), the HA
# pair (tests/e2e/ha.sh: two firewalls, conntrackd sync, failovers), the
# Debian package (tests/dist/deb.sh, in a chroot on the host) and a smoke run of the
# throughput benchmark (tests/bench/run.sh --smoke: every contender passes
# traffic and no packet bypasses the helper; the speed is not judged, the
# memory goal is: RSS with every shipped helper loaded).
#
# Debian 13's (trixie) and the newest backports kernel (trixie-backports)
# run the subset that covers every kernel-facing feature: the feature checks
# (NFQUEUE with conntrack), the cthelper client (registration), FTP with the
# clients masqueraded (ctnetlink expectations, NAT rewrite with sequence
# adjustment over IPv4 and IPv6, a reload under an open control connection)
# and TFTP (NFQA_EXP expectations, plain, SNAT and DNAT).
#
#   tests/vm/suite.sh                       (root) the whole matrix
#   CTLUA_VM_MATRIX=trixie tests/vm/suite.sh   only these kernels
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
export PATH=/usr/local/go/bin:$PATH GOFLAGS=-buildvcs=false
MATRIX=${CTLUA_VM_MATRIX:-bookworm trixie trixie-backports}
B=$(mktemp -d /tmp/ctlua-suite.XXXXXX)
trap 'rm -rf "$B"' EXIT
go build -o "$B/ctlua" ./cmd/ctlua || exit 1
# [daemon] user switches threads in-process, which a cgo build refuses.
CGO_ENABLED=0 go build -o "$B/ctlua-nocgo" ./cmd/ctlua || exit 1
go test -c -tags integration -o "$B/cthelper.test" ./runtime/cthelper || exit 1
export CTLUA_BIN=$B/ctlua
pass=0 fail=0
declare -A took

# step NAME CMD...: runs CMD on the host (CMD starts its own VM).
step() {
  local name=$1 t0=$SECONDS
  shift
  echo "=== VM [$CTLUA_VM_KERNEL]: $name"
  if "$@"; then
    pass=$((pass + 1))
    echo "=== VM [$CTLUA_VM_KERNEL]: $name ok ($((SECONDS - t0))s)"
  else
    fail=$((fail + 1))
    echo "=== VM [$CTLUA_VM_KERNEL]: $name FAILED ($((SECONDS - t0))s)"
  fi
}
# group NAME CMD...: runs CMD in a VM of its own.
group() {
  local name=$1
  shift
  step "$name" tests/vm/run.sh "$@"
}
# natgroup NAME NAT CMD...: a group with CTLUA_E2E_NAT=NAT (run.sh passes
# CTLUA_* variables into the guest).
natgroup() {
  local name=$1 nat=$2
  shift 2
  step "$name" env CTLUA_E2E_NAT="$nat" tests/vm/run.sh "$@"
}

# The groups every kernel runs.
common_groups() {
  step "kernel features (tests/vm/vm_test.go)" tests/vm/run-go-tests.sh
  group "nfnetlink_cthelper client" "$B/cthelper.test" -test.v -test.count=1
  natgroup "FTP, clients masqueraded (SNAT; IPv6 sequence adjustment; reload)" snat bash tests/e2e/ftp.sh
  group "TFTP through a dropping firewall (plain, SNAT, DNAT)" bash tests/e2e/tftp.sh
}

# The groups only the default kernel runs.
full_groups() {
  group "seed walkthrough" bash tests/e2e/seed.sh
  natgroup "FTP through a dropping firewall" 0 bash tests/e2e/ftp.sh
  natgroup "FTP, server behind DNAT" dnat bash tests/e2e/ftp.sh
  group "FTP port hunting: two masqueraded clients announce one port" bash tests/e2e/ftp-hunt.sh
  group "SIGKILL under traffic: the queue is bypassed, a restarted daemon serves" bash tests/e2e/kill.sh
  group "IRC, SANE, Amanda through a dropping firewall (IRC and SANE masqueraded, Amanda behind DNAT)" bash tests/e2e/kernel-twins.sh
  group "NetBIOS-NS and SNMP broadcast answers (ctlua.iface from rtnetlink)" bash tests/e2e/broadcast.sh
  # A call takes 30-60 s under TCG: six set-ups and the controls need more
  # than run.sh's default 600 s on a busy host.
  step "SIP through a dropping firewall (plain, SNAT, DNAT; IPv4, IPv6)" env CTLUA_VM_TIMEOUT=1500 tests/vm/run.sh bash tests/e2e/sip.sh
  group "observability: ctlua status, expect, reload, metrics with FTP and TFTP traffic" bash tests/e2e/observe.sh
  step "operating: non-root with CAP_NET_ADMIN only, rules it installs, notify/watchdog, SIGKILL and restart" env CTLUA_BIN="$B/ctlua-nocgo" tests/vm/run.sh bash tests/e2e/operate.sh
  group "mDNS, SLP, DHCPv6, SSDP answers through a dropping filter, and conntrackd's helpers on the same traffic" env CTLUA_MCAST_PEER=1 bash tests/e2e/mcast.sh
  group "RPC and TNS through a dropping firewall (rpcbind, statd, sm-notify, rpcinfo; scripted TNS; DNAT)" bash tests/e2e/rpc-tns.sh
  group "conntrackd's RPC and TNS helpers vs ctlua (ctlua creates at least conntrackd's expectations)" bash tests/peers/conntrackd-rpc-tns.sh
  step "HA pair: FTP and SIP across failovers, plain, SNAT, DNAT and IPv6 (conntrackd sync, ctlua on both firewalls)" tests/vm/run.sh bash tests/e2e/ha.sh
  step "Debian package: lintian, systemd-analyze verify, dpkg -i/-r/--purge on a clean Debian 12 root (host chroot)" tests/dist/deb.sh
  step "benchmark smoke: C reference, conntrackd, ctlua (tests/bench, 1 round of 2 s)" tests/bench/run.sh --smoke
}

for k in $MATRIX; do
  export CTLUA_VM_KERNEL=$k
  t0=$SECONDS
  if ! tests/vm/run.sh --prepare; then
    fail=$((fail + 1))
    echo "=== VM [$k]: cannot prepare the kernel FAILED"
    continue
  fi
  common_groups
  [[ $k == bookworm ]] && full_groups
  took[$k]=$((SECONDS - t0))
done
for k in $MATRIX; do echo "vm: kernel $k took ${took[$k]:-?}s"; done
echo "vm: suite took ${SECONDS}s"
echo "vm: $pass passed, $fail failed"
((fail == 0))
