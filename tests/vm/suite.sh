#!/usr/bin/env bash
# suite.sh - the real-kernel suite: builds ctlua and the kernel integration
# test binaries on the host, then runs each group in its own VM (helpers
# are global to the kernel, so groups must not share one). The e2e groups:
# FTP (tests/e2e/ftp.sh) plain, with the clients masqueraded and with the
# server behind DNAT; NAT port hunting (tests/e2e/ftp-hunt.sh); TFTP
# (tests/e2e/tftp.sh, all three set-ups in one VM).
#   tests/vm/suite.sh        (root)
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH GOFLAGS=-buildvcs=false
B=$(mktemp -d /tmp/ctlua-suite.XXXXXX); trap 'rm -rf "$B"' EXIT
go build -o "$B/ctlua" ./cmd/ctlua || exit 1
go test -c -tags integration -o "$B/cthelper.test" ./runtime/cthelper || exit 1
tests/vm/run.sh --prepare || exit 1
export CTLUA_BIN=$B/ctlua
pass=0 fail=0
# step NAME CMD...: runs CMD on the host (CMD starts its own VM).
step() {
  local name=$1; shift
  local t0=$SECONDS
  echo "=== VM: $name"
  if "$@"; then pass=$((pass+1)); echo "=== VM: $name ok ($((SECONDS-t0))s)"
  else fail=$((fail+1)); echo "=== VM: $name FAILED ($((SECONDS-t0))s)"; fi
}
# group NAME CMD...: runs CMD in a VM of its own.
group() { local name=$1; shift; step "$name" tests/vm/run.sh "$@"; }
step "kernel features (tests/vm/vm_test.go)" tests/vm/run-go-tests.sh
group "nfnetlink_cthelper client" "$B/cthelper.test" -test.v -test.count=1
group "seed walkthrough" bash tests/e2e/seed.sh
# natgroup NAME NAT CMD...: a group with CTLUA_E2E_NAT=NAT (run.sh passes
# CTLUA_* variables into the guest).
natgroup() { local name=$1 nat=$2; shift 2; step "$name" env CTLUA_E2E_NAT="$nat" tests/vm/run.sh "$@"; }
natgroup "FTP through a dropping firewall" 0 bash tests/e2e/ftp.sh
natgroup "FTP, clients masqueraded (SNAT)" snat bash tests/e2e/ftp.sh
natgroup "FTP, server behind DNAT" dnat bash tests/e2e/ftp.sh
group "FTP port hunting: two masqueraded clients announce one port" bash tests/e2e/ftp-hunt.sh
group "TFTP through a dropping firewall (plain, SNAT, DNAT)" bash tests/e2e/tftp.sh
echo "vm: suite took ${SECONDS}s"
echo "vm: $pass passed, $fail failed"
(( fail == 0 ))
