#!/usr/bin/env bash
# tests/vm/run-go-tests.sh - build the kernel feature checks (vm_test.go,
# build tag "vm") on the host and run them inside the VM of tests/vm/run.sh.
#
#   sudo tests/vm/run-go-tests.sh [TEST BINARY FLAGS...]   e.g. -test.run NFQueue
#
# Exits with the test binary's status (124/125: see run.sh). The CTLUA_VM_*
# settings of run.sh apply.
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ -d /usr/local/go/bin ]] && export PATH=/usr/local/go/bin:$PATH
export GOFLAGS=${GOFLAGS:--buildvcs=false}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ctlua-vm-tests.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
go test -c -tags vm -o "$tmp/vm.test" ./tests/vm

# Like go test: the package directory is the working directory.
cd tests/vm
rc=0
./run.sh "$tmp/vm.test" -test.v -test.count=1 "$@" || rc=$?
exit "$rc"
