#!/usr/bin/env bash
# run.sh - every test: vet, the unit tests (no root, no kernel), then, as
# root, the kernel oracle on this kernel (tests/oracle/live.sh) and the
# real-kernel suite in a VM (tests/vm/suite.sh).
#   sudo tests/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH GOFLAGS=-buildvcs=false
if [[ $(id -u) == 0 ]]; then
  echo "== test programs (Debian packages)"
  tests/deps.sh
fi
echo "== go vet"
go vet ./...
echo "== unit tests"
go test ./...
if [[ $(id -u) != 0 ]]; then
  echo "== real-kernel suite: needs root (qemu, apt-get, network namespaces); run: sudo tests/run.sh" >&2
  exit 1
fi
echo "== kernel oracle on this kernel (real FTP/TFTP traffic, nf_conntrack_ftp/tftp vs ctlua replay)"
tests/oracle/live.sh
echo "== real-kernel suite (VM)"
tests/vm/suite.sh
