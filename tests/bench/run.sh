#!/usr/bin/env bash
# tests/bench/run.sh - throughput of a user-space conntrack helper, measured
# side by side on a real kernel (the VM of tests/vm/run.sh): a minimal C
# program (nfq-accept.c, registered as the helper with nfct, accepts every
# packet), conntrackd with its own C helper, and `ctlua run` with the
# shipped helper, for
#   tftp  one UDP flow to port 69 of TFTP DATA packets, sent as fast as the
#         client can (every packet is queued, none creates an expectation);
#   ftp   one TCP connection to port 21 carrying lines that are not
#         commands, one line per segment (TCP_MAXSEG = the line's size).
# The contenders take turns, interleaved in rounds, each alone on the
# queue. For each run it reports packets/s (verdicts: queued minus
# dropped, from /proc/net/netfilter/nfnetlink_queue), CPU per packet and
# RSS of the contender, then the medians and the ratios.
#
# Then the memory goal: ctlua with every shipped helper (scripts/*) loaded
# at once, each on its own queue, must stay within CTLUA_BENCH_RSS_MAX_MB
# (40) of RSS, before and after a reload.
#
# No packet may bypass the helper: every contender runs without fail-open,
# and a run fails when the receiver got more packets than there were
# verdicts (a flood that overflows the queue must show up as queue drops).
#
#   sudo tests/bench/run.sh            5 rounds of 10 s per contender and protocol
#   sudo tests/bench/run.sh --smoke    1 round of 2 s: that everything runs
#
# Settings: CTLUA_BENCH_ROUNDS, CTLUA_BENCH_SECONDS, CTLUA_BENCH_PROTOS
# ("tftp ftp"), CTLUA_BENCH_CONTENDERS ("c conntrackd ctlua"; ctlua1 is
# ctlua with one engine worker, ctluap1 also with GOMAXPROCS=1), CTLUA_BENCH_SIZE (payload bytes, 100),
# CTLUA_BENCH_SENDERS (threads sending the one UDP flow, 1),
# CTLUA_BENCH_OUT (a host directory for results.tsv), CTLUA_BENCH_PROFILE=1
# (with CTLUA_BENCH_OUT: a CPU profile of every ctlua run there, from
# CTLUA_CPUPROFILE), CTLUA_BENCH_BASELINE (a ctlua binary, e.g. built from
# the commit before a change: the contender ctluabase runs it); the
# CTLUA_VM_* settings of tests/vm/run.sh apply.
set -uo pipefail
SELF=$(readlink -f "$0")
ROOT=$(cd "$(dirname "$SELF")/../.." && pwd)
if [[ ${1-} == --smoke ]]; then
  export CTLUA_BENCH_ROUNDS=${CTLUA_BENCH_ROUNDS:-1} CTLUA_BENCH_SECONDS=${CTLUA_BENCH_SECONDS:-2}
  export CTLUA_BENCH_SMOKE=1
fi

# --- on the host: packages, the three programs, then the VM ----------------------
if [[ ${CTLUA_VM_GUEST:-} != 1 ]]; then
  [[ $(id -u) == 0 ]] || { echo "bench: run as root (apt-get, qemu)" >&2; exit 2; }
  export PATH=/usr/local/go/bin:$PATH GOFLAGS=${GOFLAGS:--buildvcs=false}
  missing=()
  for p in conntrackd nfct libnetfilter-queue-dev libmnl-dev gcc; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "bench: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get -qq -o DPkg::Lock::Timeout=300 update >/dev/null &&
      apt-get -qq -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}" >/dev/null ||
      { echo "bench: apt-get install ${missing[*]} failed" >&2; exit 2; }
  fi
  B=$(mktemp -d /tmp/ctlua-bench.XXXXXX)
  trap 'rm -rf "$B"' EXIT
  cc -O2 -Wall -o "$B/nfq-accept" "$ROOT/tests/bench/nfq-accept.c" -lnetfilter_queue -lmnl || exit 2
  (cd "$ROOT" && go build -o "$B/ctlua" ./cmd/ctlua && go build -o "$B/traffic" ./tests/bench/traffic) || exit 2
  if [[ -n ${CTLUA_BENCH_BASELINE:-} ]]; then
    cp "$CTLUA_BENCH_BASELINE" "$B/ctlua-base" || exit 2
  fi
  export CTLUA_BENCH_BIN=$B CTLUA_VM_TIMEOUT=${CTLUA_VM_TIMEOUT:-1800}
  if [[ -n ${CTLUA_BENCH_OUT:-} ]]; then
    mkdir -p "$CTLUA_BENCH_OUT"
    CTLUA_BENCH_OUT=$(cd "$CTLUA_BENCH_OUT" && pwd)
    export CTLUA_BENCH_OUT CTLUA_VM_RWDIRS=${CTLUA_VM_RWDIRS:+$CTLUA_VM_RWDIRS:}$CTLUA_BENCH_OUT
  fi
  cd "$ROOT" && tests/vm/run.sh bash "$SELF"
  exit
fi

# =========================== in the guest (root) ===================================
ROUNDS=${CTLUA_BENCH_ROUNDS:-5} SECS=${CTLUA_BENCH_SECONDS:-10} SIZE=${CTLUA_BENCH_SIZE:-100} SENDERS=${CTLUA_BENCH_SENDERS:-1}
PROTOS=${CTLUA_BENCH_PROTOS:-tftp ftp} CONTENDERS=${CTLUA_BENCH_CONTENDERS:-c conntrackd ctlua}
BIN=${CTLUA_BENCH_BIN:?} CLI=bcli$$ FW=bfw$$ SRV=bsrv$$
NSES="$CLI $FW $SRV" W=$(mktemp -d /tmp/ctlua-bench.XXXXXX)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
# shellcheck source=tests/bench/contenders.sh
. "$ROOT/tests/bench/contenders.sh"
modprobe -a nfnetlink_cthelper nfnetlink_queue nf_conntrack_netlink nft_ct 2>/dev/null
topology "$CLI" "$FW" "$SRV"
echo "bench: kernel $(uname -r), $(nproc) vCPUs; $ROUNDS round(s) of ${SECS}s; ${SIZE}-byte payloads; conntrackd $(dpkg-query -W -f='${Version}' conntrackd)"
printf 'round\tproto\tcontender\tpps\tcpu_us_per_pkt\trss_kb\tverdicts\treceived\tqueue_dropped\n' >"$W/results.tsv"
for r in $(seq "$ROUNDS"); do
  for proto in $PROTOS; do
    for c in $CONTENDERS; do
      measure "$r" "$proto" "$c"
    done
  done
done
report "$W/results.tsv"
all_helpers_rss
[[ -n ${CTLUA_BENCH_OUT:-} ]] && cp "$W/results.tsv" "$CTLUA_BENCH_OUT/"
finish
