# shellcheck shell=bash
# contenders.sh - the benchmark's contenders and one measured run of each;
# sourced by tests/bench/run.sh in the guest, after tests/e2e/lib.sh. Each
# start_X NAME L4 starts contender X as the helper NAME on queue 0 in $FW
# and sets PID; stop_contender stops it and sets OWN, the verdicts it
# counted itself ("" when it does not say).

QUEUE=0

# start_c NAME L4: nfct registers the helper; nfq-accept enables it and
# serves its queue. (Not through inns: $! must be the contender.)
start_c() {
  nfct add helper "$1" inet "$2" >"$W/nfct.log" 2>&1 || { cat "$W/nfct.log"; return 1; }
  ip netns exec "$FW" "$BIN/nfq-accept" $QUEUE "$1" "$2" >"$W/c.log" 2>&1 &
  PID=$!
  wait_for "$W/c.log" ready
}

# start_conntrackd NAME L4: conntrackd in helper mode with its own C helper.
# conntrackd 1.4.7 cannot create a helper (it omits NFCTH_PRIV_DATA_LEN):
# nfct creates it, conntrackd updates it.
start_conntrackd() {
  cat >"$W/conntrackd.conf" <<EOF
General {
	Systemd off
	HashSize 8192
	HashLimit 65535
	LogFile $W/conntrackd.log
	Syslog off
	LockFile $W/conntrackd.lock
	UNIX { Path $W/conntrackd.ctl }
}
Helper {
	Type $1 inet $2 {
		QueueNum $QUEUE
		QueueLen 1024
		Policy $1 {
			ExpectMax 1
			ExpectTimeout 300
		}
	}
}
EOF
  : >"$W/conntrackd.log"
  rm -f "$W/conntrackd.lock"
  nfct add helper "$1" inet "$2" >"$W/nfct.log" 2>&1 || { cat "$W/nfct.log"; return 1; }
  ip netns exec "$FW" conntrackd -C "$W/conntrackd.conf" >"$W/conntrackd.log.out" 2>&1 &
  PID=$!
  wait_for "$W/conntrackd.log" "initialization completed"
}

# start_ctlua NAME L4: ctlua run with the shipped helper, IPv4 only (like
# the others), no fail-open, one engine worker per vCPU (WORKERS=N: N).
# With CTLUA_BENCH_PROFILE=1 and CTLUA_BENCH_OUT, it writes a CPU profile
# of the run there (PROFILE, set by measure).
start_ctlua() {
  cat >"$W/bench.toml" <<EOF
[daemon]
on_exit = "delete"
watch = false
workers = ${WORKERS:-0}
[[helper]]
script = "builtin:$1"
queue = $QUEUE
l3 = ["ipv4"]
fail_open = false
queue_len = 1024
EOF
  ip netns exec "$FW" env ${PROFILE:+CTLUA_CPUPROFILE="$PROFILE"} ${PROCS:+GOMAXPROCS="$PROCS"} "$BIN/${EXE:-ctlua}" run --config "$W/bench.toml" >"$W/ctlua.log" 2>&1 &
  PID=$!
  wait_for "$W/ctlua.log" "ctlua running"
}

# start_ctlua1 NAME L4: ctlua with one engine worker, to compare with the
# default (one per vCPU) on the same flow.
start_ctlua1() { WORKERS=1 start_ctlua "$@"; }

# start_ctluap1 NAME L4: ctlua with one engine worker and one Go
# processor (GOMAXPROCS=1): no runtime thread competes with the traffic
# and the kernel's work for the other vCPU.
start_ctluap1() { PROCS=1 WORKERS=1 start_ctlua "$@"; }

# start_ctluabase NAME L4: the ctlua binary named by CTLUA_BENCH_BASELINE
# on the host (e.g. built from the commit before a change), to measure a
# change against it in the same rounds.
start_ctluabase() { EXE=ctlua-base start_ctlua "$@"; }

# wait_for FILE TEXT: up to 20 s for TEXT in FILE, while PID lives.
wait_for() {
  for _ in $(seq 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$1"
  return 1
}

# stop_contender C NAME L4: SIGTERM, then what it counted, then the kernel
# helper is deleted (ctlua deletes its own).
stop_contender() {
  kill -TERM "$PID" 2>/dev/null
  wait "$PID" 2>/dev/null
  OWN= OVER=
  case $1 in
    c) OWN=$(awk '/^verdicts/ { print $2 }' "$W/c.log") ;;
    ctlua*)
      OWN=$(grep -o 'msg="queue stats".* verdicts=[0-9]*' "$W/ctlua.log" | grep -o 'verdicts=[0-9]*' | cut -d= -f2)
      OVER=$(grep -o 'msg="queue stats".* overflows=[0-9]*' "$W/ctlua.log" | grep -o 'overflows=[0-9]*' | cut -d= -f2)
      ;;
  esac
  [[ $1 == ctlua* ]] || nfct del helper "$2" inet "$3" 2>/dev/null
  return 0
}

# rules_add NAME L4 PORT: attach the helper to the flow; rules_del.
rules_add() {
  inns "$FW" nft -f - <<EOF
table ip bench {
	ct helper h { type "$1" protocol $2; l3proto ip; }
	chain pre { type filter hook prerouting priority filter; $2 dport $3 ct helper set "h"; }
}
EOF
}
rules_del() { inns "$FW" nft delete table ip bench 2>/dev/null; }

# qstats: queue_total, queue_dropped, user_dropped and id_sequence of our
# queue, from the firewall namespace's /proc/net/netfilter/nfnetlink_queue.
# The kernel numbers a packet (id_sequence) once it fits in the queue: a
# packet dropped because the queue is full (queue_dropped), or let through
# by fail-open, gets no number; one lost on the way to the socket
# (user_dropped) has one.
qstats() {
  inns "$FW" awk -v q=$QUEUE '$1 == q { print $3, $6, $7, $8; found = 1 } END { if (!found) print 0, 0, 0, 0 }' \
    /proc/net/netfilter/nfnetlink_queue
}

# cputicks PID: user + system time of the whole process, in clock ticks.
cputicks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# measure ROUND PROTO C: one run of contender C; appends to results.tsv.
measure() {
  local r=$1 proto=$2 c=$3 name l4 port rpid q0d q0u q0i q1t q1d q1u q1i t0 t1 rss recv
  case $proto in
    tftp) name=tftp l4=udp port=69 ;;
    ftp) name=ftp l4=tcp port=21 ;;
    *) die "unknown protocol $proto" ;;
  esac
  PROFILE=
  [[ -n ${CTLUA_BENCH_PROFILE:-} && -n ${CTLUA_BENCH_OUT:-} && $c == ctlua* ]] && PROFILE="$CTLUA_BENCH_OUT/$c-$proto-r$r.pprof"
  "start_$c" "$name" "$l4" || { bad "round $r $proto $c: did not start"; stop_contender "$c" "$name" "$l4"; return; }
  rules_add "$name" "$l4" "$port" || { bad "round $r $proto $c: rules"; stop_contender "$c" "$name" "$l4"; return; }
  if [[ $l4 == udp ]]; then
    inns "$SRV" "$BIN/traffic" udp-recv ":$port" $((SECS + 10)) >"$W/recv.out" 2>&1 &
  else
    inns "$SRV" "$BIN/traffic" tcp-recv ":$port" "$SIZE" $((SECS + 10)) >"$W/recv.out" 2>&1 &
  fi
  rpid=$!
  sleep 0.3
  read -r _ q0d q0u q0i <<<"$(qstats)"
  t0=$(cputicks "$PID")
  if [[ $l4 == udp ]]; then
    inns "$CLI" "$BIN/traffic" udp-send "198.51.100.2:$port" "$SIZE" "$SENDERS" "$SECS" >"$W/send.out" 2>&1
  else
    inns "$CLI" "$BIN/traffic" tcp-send "198.51.100.2:$port" "$SIZE" "$SECS" >"$W/send.out" 2>&1
  fi
  read -r q1t q1d q1u q1i <<<"$(qstats)"
  t1=$(cputicks "$PID")
  rss=$(rss_kb "$PID")
  wait "$rpid"
  recv=$(awk '/^received/ { print $2 }' "$W/recv.out")
  rules_del
  stop_contender "$c" "$name" "$l4"
  record "$r" "$proto" "$c" $((q1i - q0i - (q1u - q0u))) $((q1d - q0d + q1u - q0u)) "$q1t" $((t1 - t0)) "$rss" "${recv:-0}"
}

# record ROUND PROTO C DELIVERED DROPPED LEFT TICKS RSS RECEIVED: the
# run's line, and the checks: traffic passed, and no packet bypassed the
# helper. DELIVERED packets reached the contender; LEFT of them were still
# waiting for their verdict at the end of the run.
record() {
  local r=$1 proto=$2 c=$3 delivered=$4 dropped=$5 left=$6 ticks=$7 rss=$8 recv=$9 verdicts hz pps cpu
  verdicts=$((delivered - left))
  hz=$(getconf CLK_TCK)
  pps=$(awk -v v="$verdicts" -v s="$SECS" 'BEGIN { printf "%.0f", v / s }')
  cpu=$(awk -v t="$ticks" -v hz="$hz" -v v="$verdicts" 'BEGIN { printf "%.2f", v ? t / hz * 1e6 / v : 0 }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$proto" "$c" "$pps" "$cpu" "$rss" "$verdicts" "$recv" "$dropped" >>"$W/results.tsv"
  printf 'round %s %-5s %-10s %7s packets/s  %6s us CPU/packet  RSS %6s kB  (verdicts %s, received %s, queue drops %s)\n' \
    "$r" "$proto" "$c" "$pps" "$cpu" "$rss" "$verdicts" "$recv" "$dropped"
  if ((verdicts <= 0 || recv <= 0)); then
    bad "round $r $proto $c: no traffic passed (delivered $delivered, dropped $dropped, left $left)"
    tail -n 15 "$W/$c.log" "$W/send.out" "$W/recv.out" 2>/dev/null
    return
  fi
  bypass_check "$r $proto $c" "$delivered" "$recv" "$proto"
}

# bypass_check WHAT DELIVERED RECEIVED PROTO: with fail-open, a full queue
# lets packets through unnumbered and unanswered. So the contender's own
# verdict count must cover what the kernel delivered to it; for the UDP
# flow, whose every packet the server counts, the server must not have
# received more packets than the helper was given.
bypass_check() {
  local what=$1 delivered=$2 recv=$3
  if [[ -n $OWN ]] && ((OWN < delivered)); then
    bad "$what: $OWN verdicts for $delivered packets delivered"
    return
  fi
  # ctlua answers a packet with the default verdict, without the helper,
  # when its lane is full and stalled (Stats.Overflows): that must not be
  # how it keeps up with a flood.
  if [[ -n ${OVER:-} ]] && ((OVER > 0)); then
    bad "$what: $OVER packets answered without the helper (lane overflows)"
    return
  fi
  if [[ $4 == tftp ]]; then
    ((recv <= delivered)) && ok "$what: no bypass (the server got $recv packets, the helper was given $delivered)" ||
      bad "$what: the server got $recv packets, the helper was given only $delivered: packets bypassed the helper"
  elif [[ -n $OWN ]]; then
    ok "$what: it answered all $delivered packets ($OWN verdicts)"
  else
    echo "  $what: no own verdict count; TCP lines are not packets, so bypass is checked on the UDP flow only"
  fi
}

# report TSV: per protocol and contender the median and range of packets/s,
# median CPU per packet and RSS, and the share of the packets the sender
# offered (verdicts + queue drops) that the contender answered: near 100%,
# the contender kept up and the sender set the rate; then ctlua's ratios
# to the others.
report() {
  echo
  echo "=== results ($(uname -r), $(nproc) vCPUs, ${SECS}s runs, $ROUNDS round(s))"
  awk -F'\t' '
    NR == 1 { next }
    { k = $2 SUBSEP $3; n[k]++; pps[k, n[k]] = $4; cpu[k, n[k]] = $5; rss[k, n[k]] = $6; keys[k] = 1
      ans[k] += $7; off[k] += $7 + $9 }
    function median(a, k, m,    i, j, t, v) {
      for (i = 1; i <= m; i++) v[i] = a[k, i] + 0
      for (i = 2; i <= m; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
      return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
    }
    function lo(a, k, m,    i, x) { x = a[k, 1] + 0; for (i = 2; i <= m; i++) if (a[k, i] + 0 < x) x = a[k, i] + 0; return x }
    function hi(a, k, m,    i, x) { x = a[k, 1] + 0; for (i = 2; i <= m; i++) if (a[k, i] + 0 > x) x = a[k, i] + 0; return x }
    END {
      printf "| protocol | contender | packets/s (median) | range | CPU per packet (us) | RSS (MB) | answered of offered |\n|---|---|---|---|---|---|---|\n"
      for (k in keys) {
        split(k, p, SUBSEP); m = n[k]; med[k] = median(pps, k, m)
        printf "| %s | %s | %d | %d - %d | %.1f | %.1f | %d%% |\n", p[1], p[2], med[k], lo(pps, k, m), hi(pps, k, m), median(cpu, k, m), median(rss, k, m) / 1024, off[k] ? 100 * ans[k] / off[k] : 0 | "sort"
      }
      close("sort")
      for (k in keys) {
        split(k, p, SUBSEP)
        if (p[2] !~ /^ctlua/) continue
        c = p[1] SUBSEP "c"; d = p[1] SUBSEP "conntrackd"
        if (d in med && med[d] > 0) printf "ratio %s: %s / conntrackd = %.2f\n", p[1], p[2], med[k] / med[d]
        if (c in med && med[c] > 0) printf "ratio %s: %s / C reference = %.2f\n", p[1], p[2], med[k] / med[c]
      }
    }' "$1"
}

# all_helpers_rss: the memory goal (issue 13: RSS at most
# CTLUA_BENCH_RSS_MAX_MB, 40, with every shipped helper loaded): ctlua run
# with every folder of scripts/ as a builtin helper, each on a queue of
# its own, its RSS once all are registered and bound, and again after a
# reload of every script.
all_helpers_rss() {
  local max_mb=${CTLUA_BENCH_RSS_MAX_MB:-40} q=100 names=() f name rss1 rss2
  printf '[daemon]\non_exit = "delete"\nwatch = false\n' >"$W/all.toml"
  for f in "$ROOT"/scripts/*/helper.lua; do
    name=$(basename "$(dirname "$f")")
    names+=("$name")
    printf '[[helper]]\nscript = "builtin:%s"\nqueue = %d\n' "$name" "$q" >>"$W/all.toml"
    q=$((q + 1))
  done
  ip netns exec "$FW" "$BIN/ctlua" run --config "$W/all.toml" >"$W/all.log" 2>&1 &
  PID=$!
  if ! wait_for "$W/all.log" "ctlua running"; then
    bad "every shipped helper (${names[*]}): ctlua did not start: $(tail -3 "$W/all.log")"
    kill "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    return
  fi
  rss1=$(rss_kb "$PID")
  echo "bench: all helpers loaded: $(grep -E '^(Anonymous|Pss_File):' "/proc/$PID/smaps_rollup" | tr -s ' \n' ' ')"
  kill -HUP "$PID"
  for _ in $(seq 300); do # up to 30 s: every script reloaded (or refused)
    (($(grep -cE 'msg="(reloaded helper|reload failed)' "$W/all.log") >= ${#names[@]})) && break
    sleep 0.1
  done
  rss2=$(rss_kb "$PID")
  echo "bench: after a reload: $(grep -E '^(Anonymous|Pss_File):' "/proc/$PID/smaps_rollup" | tr -s ' \n' ' ')"
  kill "$PID"
  wait "$PID" 2>/dev/null
  echo "bench: RSS with all ${#names[@]} shipped helpers loaded (${names[*]}): $((rss1 / 1024)) MB, $((rss2 / 1024)) MB after a reload"
  if ((rss1 <= max_mb * 1024 && rss2 <= max_mb * 1024)); then
    ok "RSS with every shipped helper loaded: $rss1 kB, $rss2 kB after a reload (at most $max_mb MB)"
  else
    bad "RSS with every shipped helper loaded: $rss1 kB, $rss2 kB after a reload: more than $max_mb MB"
  fi
}
