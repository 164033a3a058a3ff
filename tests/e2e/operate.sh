#!/usr/bin/env bash
# operate.sh - end-to-end test of ctlua run as a service runs it: without
# root, with the rules it installs itself, under systemd's notify protocol.
#
# Runs as root on a kernel with nfnetlink_cthelper (inside tests/vm/run.sh).
# The topology of ftp.sh and tftp.sh: the firewall namespace forwards only
# new FTP control connections (TCP 21), TFTP requests (UDP 69) and
# RELATED,ESTABLISHED traffic, so data flows pass only through the
# expectations of ctlua's FTP and TFTP helpers. The configuration says
# rules = "install": no test line loads a ct helper rule, ctlua does.
#
#   1. ctlua as nobody, holding only CAP_NET_ADMIN (ambient, set up by
#      setpriv as systemd's AmbientCapabilities= would), with user =
#      "nobody" as the packaged configuration names its user: every thread runs
#      as uid 65534 with only cap_net_admin; ctlua's table equals what
#      `ctlua rules` prints (both listed back by nft); FTP (passive and
#      active, IPv4 and IPv6) and TFTP (IPv4 and IPv6) pass; SIGTERM leaves
#      no table and no helper. Watched like a service: metrics and a
#      control socket in a directory nobody owns; `ctlua status` counts the
#      packets, `ctlua expect --watch` sees the expectations, the metrics
#      rise, `ctlua reload` loads a changed script. (Scenes 3 and 4 pass one FTP and one TFTP
#      transfer each, on other families and modes.)
#   2. Without the capability (as nobody, and as root with it dropped; no
#      user key):
#      exit status 1 and an error naming CAP_NET_ADMIN and what needed it.
#   3. As root with [daemon] user = "nobody", under a fake systemd notify
#      socket with a watchdog: READY=1 once serving, WATCHDOG=1 at half the
#      interval, every thread at uid 65534 with only cap_net_admin (also
#      bounding; nothing inheritable or ambient; no_new_privs), FTP and
#      TFTP pass, SIGHUP
#      gives RELOADING=1 then READY=1 and reloads the scripts as nobody.
#   4. SIGKILL: the table and the helpers stay; the next start (as in 3)
#      replaces the table (one table, the same rules), serves FTP and TFTP,
#      and its SIGTERM leaves nothing behind (STOPPING=1).
#
#   CTLUA_BIN=path/to/ctlua tests/e2e/operate.sh   (a build without cgo:
#   CGO_ENABLED=0 go build; the Debian package's is one)
# Exit 0: passed. Output ends with "N passed, M failed".
set -uo pipefail
CTLUA_SRC=${CTLUA_BIN:?set CTLUA_BIN to the ctlua binary (built with CGO_ENABLED=0)}
PY=/usr/bin/python3
NS=cto$$
CLI=$NS-cli FW=$NS-fw SRV=$NS-srv SCRATCH=$NS-scratch NSES="$CLI $FW $SRV $SCRATCH"
W=$(mktemp -d /tmp/ctlua-e2e-op.XXXXXX)
. "$(dirname "$0")/lib.sh"
for t in ip nft curl in.tftpd setpriv timeout "$PY"; do need "$t"; done
need_helper_kernel ftp
[[ -d /sys/module/nf_conntrack_tftp ]] && die "nf_conntrack_tftp is loaded: it owns the helper name tftp"
topology "$CLI" "$FW" "$SRV"
ip netns add "$SCRATCH" || die "ip netns add $SCRATCH"

# Everything nobody must read: the binary (CTLUA_BIN may sit in a 0700
# directory), the configuration and the scripts it reloads.
chmod 0755 "$W"
CTLUA=$W/ctlua
cp "$CTLUA_SRC" "$CTLUA" && chmod 0755 "$CTLUA"
cp "$E2E/../../scripts/ftp/helper.lua" "$W/ftp.lua"
cp "$E2E/../../scripts/tftp/helper.lua" "$W/tftp.lua"
echo "--- namespaces and files at ${SECONDS}s"
# conf FILE [USER]: rules = "install", FTP on queue 3, TFTP on queue 4.
conf() {
  { echo "[daemon]"; echo 'rules = "install"'; echo 'budget = "1s"'
    [[ -n ${2:-} ]] && echo "user = \"$2\""
    printf '[[helper]]\nscript = "%s"\nqueue = 3\n[[helper]]\nscript = "%s"\nqueue = 4\n' "$W/ftp.lua" "$W/tftp.lua"; } >"$1"
  chmod 0644 "$1" "$W"/*.lua
}
conf "$W/plain.toml"
conf "$W/nobody.toml" nobody
# The service as the package configures it, watched: metrics and a control
# socket in a directory the user owns (the unit's RuntimeDirectory).
mkdir -p "$W/run" && chown nobody:nogroup "$W/run"
cp "$W/nobody.toml" "$W/watched.toml"
sed -i "s|^\[daemon\]\$|[daemon]\nwatch = false\nmetrics = \"127.0.0.1:9469\"\nsocket = \"$W/run/ctlua.sock\"|" "$W/watched.toml"

# --- servers --------------------------------------------------------------------
mkdir -p "$W/root"; chmod 0777 "$W/root"
for f in a b; do head -c 900 /dev/urandom | base64 >"$W/root/$f.txt"; done
head -c 30000 /dev/urandom >"$W/root/r.bin"
inns "$SRV" "$PY" -c '
import sys, logging
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
a = DummyAuthorizer(); a.add_anonymous(sys.argv[1])
h = FTPHandler; h.authorizer = a; h.permit_foreign_addresses = False
logging.basicConfig(level=logging.WARNING)
FTPServer(("::", 21), h).serve_forever()' "$W/root" >"$W/ftpd.log" 2>&1 &
inns "$SRV" in.tftpd --foreground --permissive --user root --secure "$W/root" >"$W/tftpd.log" 2>&1 &
for _ in $(seq 300); do
  inns "$SRV" ss -ltn | grep -q ':21 ' && inns "$SRV" ss -lun | grep -q ':69 ' && break; sleep 0.1
done
inns "$SRV" ss -ltn | grep -q ':21 ' && inns "$SRV" ss -lun | grep -q ':69 ' && ok "FTP and TFTP servers listen" \
  || { cat "$W/ftpd.log" "$W/tftpd.log"; die "the servers did not start"; }
echo "--- servers up at ${SECONDS}s"

inns "$FW" nft -f - <<'NFT' || die "nft rejected the firewall"
table inet filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		tcp dport 21 ct state new accept
		udp dport 69 ct state new accept
	}
}
NFT

# --- helpers ----------------------------------------------------------------------
# start NAME CONF [setpriv args...]: runs ctlua in the firewall (through
# setpriv when args are given), logging to $W/NAME.log, and waits until it
# serves. $CTPID is ctlua (ip netns exec and setpriv exec, they do not fork).
start() {
  local name=$1 conf=$2; shift 2
  local pre=(); (( $# )) && pre=(setpriv "$@")
  ip netns exec "$FW" "${pre[@]}" "$CTLUA" run --config "$conf" >"$W/$name.log" 2>&1 &
  CTPID=$!
  for _ in $(seq 300); do
    grep -q "ctlua running" "$W/$name.log" && return 0
    kill -0 "$CTPID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$W/$name.log"; die "$name: ctlua run did not start"
}
# stop SIGNAL: signals ctlua and waits for it; $rc is its exit status.
stop() { kill -"$1" "$CTPID"; wait "$CTPID" 2>/dev/null; rc=$?; CTPID=; }  # 2>/dev/null: no "Killed" line
# threads_only_net_admin NAME UID: every thread of ctlua runs as UID with
# only CAP_NET_ADMIN effective and permitted (bit 12: 0x1000).
threads_only_net_admin() {
  local name=$1 uid=$2 t n=0 badt=""
  for t in /proc/$CTPID/task/*; do
    n=$((n+1))
    awk -v uid="$uid" '
      /^Uid:/    { if ($2 != uid || $3 != uid || $4 != uid || $5 != uid) bad = bad " uids " $2 "," $3 "," $4 "," $5 }
      /^CapEff:/ { if ($2 != "0000000000001000") bad = bad " CapEff " $2 }
      /^CapPrm:/ { if ($2 != "0000000000001000") bad = bad " CapPrm " $2 }
      END { if (bad != "") { print bad; exit 1 } }' "$t/status" >"$W/thread.txt" || badt+=" ${t##*/}:$(cat "$W/thread.txt")"
  done
  if [[ -z $badt ]] && (( n > 1 )); then ok "$name: all $n threads run as uid $uid with only cap_net_admin (CapEff = CapPrm = 0x1000)"
  else bad "$name: threads with other credentials:$badt (of $n)"; fi
}
table_count() { inns "$FW" nft list tables 2>/dev/null | grep -c '^table inet ctlua$'; }
helpers() { "$CTLUA" helpers >"$W/helpers.txt" 2>&1; grep -cE '^(ftp|tftp) ' "$W/helpers.txt"; }
# ftp_get NAME URL ARGS...: two files over one control connection.
ftp_get() {
  local name=$1 url=$2; shift 2
  mkdir -p "$W/$name"
  inns "$CLI" timeout 30 curl -sS --max-time 25 "$@" "$url/a.txt" -o "$W/$name/a.txt" "$url/b.txt" -o "$W/$name/b.txt" >"$W/$name.curl" 2>&1 \
    && cmp -s "$W/$name/a.txt" "$W/root/a.txt" && cmp -s "$W/$name/b.txt" "$W/root/b.txt"
}
tftp_get() { # NAME URL
  inns "$CLI" timeout 30 curl -sS --max-time 25 "$2/r.bin" -o "$W/$1.bin" >"$W/$1.curl" 2>&1 && cmp -s "$W/$1.bin" "$W/root/r.bin"
}
# traffic NAME KIND...: transfers through the dropping firewall; KIND is
# ftp-ipv4-pasv, ftp-ipv4-port, ftp-ipv6-epsv, tftp-ipv4 or tftp-ipv6.
traffic() {
  local name=$1 kind r; shift
  for kind in "$@"; do
    case $kind in
    ftp-ipv4-pasv) ftp_get "$name-$kind" ftp://198.51.100.2 --disable-epsv ;;
    ftp-ipv4-port) ftp_get "$name-$kind" ftp://198.51.100.2 --ftp-port 192.0.2.1 --disable-eprt ;;
    ftp-ipv6-epsv) ftp_get "$name-$kind" "ftp://[2001:db8:2::2]" ;;
    tftp-ipv4)     tftp_get "$name-$kind" tftp://198.51.100.2 ;;
    tftp-ipv6)     tftp_get "$name-$kind" "tftp://[2001:db8:2::2]" ;;
    esac
    r=$?
    if (( r == 0 )); then ok "$name: $kind through the dropping firewall"
    else bad "$name: $kind failed"; tail -3 "$W/$name-$kind.curl"; fi
  done
}
# gone NAME: after a clean exit, no table and no helper.
gone() {
  local name=$1
  (( $(table_count) == 0 )) && ok "$name: no table inet ctlua left" || { bad "$name: table inet ctlua left behind"; inns "$FW" nft list tables; }
  (( $(helpers) == 0 )) && ok "$name: no helper left in the kernel" || { bad "$name: helpers left behind"; cat "$W/helpers.txt"; grep "kernel helper" "$W/$name.log"; }
}

# watched: what an admin sees of the daemon running as nobody: `ctlua
# status` over its socket counts the packets, `ctlua expect --watch` (in
# the background since before the traffic) saw the FTP and TFTP
# expectations, the metrics rose, `ctlua reload` loads a changed script.
watched() {
  local m a b
  "$CTLUA" status --socket "$W/run/ctlua.sock" >"$W/status.txt" 2>&1
  awk '$1 == "ftp" && $6 > 0 { a=1 } $1 == "tftp" && $6 > 0 { b=1 } END { exit !(a && b) }' "$W/status.txt" \
    && ok "user: ctlua status over the socket counts both helpers' packets" || { bad "user: ctlua status"; cat "$W/status.txt"; }
  for _ in $(seq 50); do grep -q '^\[NEW\] ftp ' "$W/watch.txt" && grep -q '^\[NEW\] tftp ' "$W/watch.txt" && break; sleep 0.1; done
  kill "$WPID" 2>/dev/null; wait "$WPID" 2>/dev/null
  grep -q '^\[NEW\] ftp ' "$W/watch.txt" && grep -q '^\[NEW\] tftp ' "$W/watch.txt" \
    && ok "user: ctlua expect --watch saw the FTP and TFTP expectations" || { bad "user: ctlua expect --watch"; cat "$W/watch.txt" "$W/watch.err"; }
  scrape after
  for m in 'ctlua_packets_total{helper="ftp"}' 'ctlua_packets_total{helper="tftp"}' 'ctlua_queue_verdicts_total{helper="tftp",queue="4"}'; do
    b=$(metric "$m" "$W/before.prom") a=$(metric "$m" "$W/after.prom")
    awk -v a="$a" -v b="$b" 'BEGIN { exit !(a > b) }' && ok "user: metric $m rose: $b -> $a" || bad "user: metric $m did not rise: '$b' -> '$a'"
  done
  echo "-- changed" >>"$W/ftp.lua"
  "$CTLUA" reload --socket "$W/run/ctlua.sock" ftp >"$W/reload.txt" 2>&1 \
    && grep -q "^ftp: loaded version 2" "$W/reload.txt" && ok "user: ctlua reload ftp as nobody: $(head -1 "$W/reload.txt")" || { bad "user: ctlua reload"; cat "$W/reload.txt"; }
}

# --- 1. a non-root user holding only CAP_NET_ADMIN ---------------------------------
echo "--- 1. nobody with ambient CAP_NET_ADMIN at ${SECONDS}s"
AMBIENT=(--reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all,+net_admin --ambient-caps=+net_admin --bounding-set=-all,+net_admin)
start user "$W/watched.toml" "${AMBIENT[@]}"
ok "user: ctlua run serves as nobody with ambient CAP_NET_ADMIN"
grep -q 'msg="running as the configured user, keeping only CAP_NET_ADMIN" user=nobody' "$W/user.log" \
  && ok "user: started as its configured user (the unit's way), it keeps only CAP_NET_ADMIN" || { bad "user: no user log"; cat "$W/user.log"; }
threads_only_net_admin user 65534
grep -q 'msg="installed nftables table" table="inet ctlua" objects=4 rules=8' "$W/user.log" \
  && ok "user: ctlua installed its table (4 ct helper objects, 8 rules)" || { bad "user: no install log"; cat "$W/user.log"; }
(( $(helpers) == 4 )) && ok "user: the kernel lists ftp and tftp, IPv4 and IPv6" || { bad "user: helpers"; cat "$W/helpers.txt"; }
# One model: the printed ruleset, loaded by nft elsewhere, lists back the same.
inns "$FW" nft list table inet ctlua >"$W/installed.nft" 2>&1
"$CTLUA" rules --config "$W/watched.toml" >"$W/printed.nft" && inns "$SCRATCH" nft -f "$W/printed.nft" \
  && inns "$SCRATCH" nft list table inet ctlua >"$W/printed-listed.nft" 2>&1
inns "$SCRATCH" nft delete table inet ctlua  # its ct helper objects pin the (global) helpers too
if [[ -s $W/installed.nft ]] && diff -u "$W/printed-listed.nft" "$W/installed.nft" >"$W/rules.diff"; then
  ok "user: the installed table equals what ctlua rules prints ($(grep -c 'ct helper set' "$W/installed.nft") rules)"
else bad "user: installed and printed rules differ"; cat "$W/rules.diff" "$W/installed.nft"; fi
scrape before
inns "$FW" "$CTLUA" expect --watch >"$W/watch.txt" 2>"$W/watch.err" &
WPID=$!
for _ in $(seq 100); do grep -q watching "$W/watch.err" && break; sleep 0.1; done
traffic user ftp-ipv4-pasv ftp-ipv4-port ftp-ipv6-epsv tftp-ipv4 tftp-ipv6
watched
stop TERM
[[ ! -e $W/run/ctlua.sock ]] && ok "user: the control socket is gone with the daemon" || bad "user: control socket left behind"
(( rc == 0 )) && ok "user: SIGTERM, exit status 0" || bad "user: exit status $rc"
grep -q 'msg="removed nftables table"' "$W/user.log" && ok "user: exit removed the table" || bad "user: no removal logged"
gone user

# --- 2. without the capability ------------------------------------------------------
echo "--- 2. missing capability at ${SECONDS}s"
for t in "nobody|--reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --bounding-set=-all|uid 65534" \
         "root|--inh-caps=-all --bounding-set=-net_admin|uid 0"; do
  IFS='|' read -r who args uid <<<"$t"
  # shellcheck disable=SC2086
  ip netns exec "$FW" timeout 60 setpriv $args "$CTLUA" run --config "$W/plain.toml" >"$W/nocap-$who.log" 2>&1; rc=$?
  if (( rc == 1 )) && grep -q "missing capability CAP_NET_ADMIN, needed for registering helpers (nfnetlink_cthelper), binding queues (NFQUEUE) and creating expectations (ctnetlink), installing its nftables table" "$W/nocap-$who.log" \
     && grep -q "$uid" "$W/nocap-$who.log"; then
    ok "no capability ($who): exit 1, the error names CAP_NET_ADMIN and what needs it"
  else bad "no capability ($who): exit $rc"; cat "$W/nocap-$who.log"; fi
done
echo "--- the error as printed:"; cat "$W/nocap-nobody.log"
(( $(helpers) == 0 && $(table_count) == 0 )) && ok "no capability: nothing registered, no table" || bad "no capability: something was left"

# --- 3. root switching to a user, under a fake systemd --------------------------------
echo "--- 3. root with user = \"nobody\", notify socket, watchdog at ${SECONDS}s"
mkdir -p "$W/sd" && chmod 0777 "$W/sd"
"$PY" -u -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
import os; os.chmod(sys.argv[1], 0o777)
t0 = time.monotonic()
while True:
    m = s.recv(4096).decode()
    print("%.3f %s" % (time.monotonic() - t0, m.replace("\n", "|")), flush=True)' "$W/sd/notify" >"$W/notify.log" 2>&1 &
for _ in $(seq 100); do [[ -S $W/sd/notify ]] && break; sleep 0.1; done
notified() { # PATTERN [TIMEOUT_S]: waits for a notification
  for _ in $(seq $((${2:-10} * 10))); do grep -q "$1" "$W/notify.log" && return 0; sleep 0.1; done; return 1
}
export NOTIFY_SOCKET=$W/sd/notify WATCHDOG_USEC=2000000
start root "$W/nobody.toml"
unset NOTIFY_SOCKET WATCHDOG_USEC
grep -q 'msg="switched user, keeping only CAP_NET_ADMIN" user=nobody uid=65534' "$W/root.log" && ok "root: switched to nobody once registered" \
  || { bad "root: no user switch logged"; cat "$W/root.log"; }
threads_only_net_admin root 65534
awk '/^CapBnd:|^CapInh:|^CapAmb:/ { print $1 $2 }' /proc/"$CTPID"/status | tr '\n' ' ' >"$W/sets.txt"
[[ $(cat "$W/sets.txt") == "CapInh:0000000000000000 CapBnd:0000000000001000 CapAmb:0000000000000000 " ]] \
  && grep -q '^NoNewPrivs:.1$' /proc/"$CTPID"/status \
  && ok "root: bounding set cap_net_admin only, nothing inheritable or ambient, no_new_privs" || bad "root: sets $(cat "$W/sets.txt") $(grep NoNewPrivs /proc/"$CTPID"/status)"
notified 'READY=1|STATUS=serving 2 helper(s)' && ok "root: READY=1 once serving" || { bad "root: no READY=1"; cat "$W/notify.log"; }
notified 'WATCHDOG=1' 10 && sleep 2.5
n=$(grep -c 'WATCHDOG=1' "$W/notify.log")
(( n >= 2 )) && ok "root: $n watchdog pings (WATCHDOG_USEC 2 s: one a second)" || { bad "root: $n watchdog pings"; cat "$W/notify.log"; }
traffic root ftp-ipv4-port tftp-ipv4
kill -HUP "$CTPID"
if notified 'RELOADING=1|MONOTONIC_USEC=' && notified '^[0-9.]* READY=1$' \
   && for _ in $(seq 100); do (( $(grep -c 'msg="reloaded helper"' "$W/root.log") == 2 )) && break; sleep 0.1; done \
   && (( $(grep -c 'msg="reloaded helper"' "$W/root.log") == 2 )); then
  ok "root: SIGHUP gives RELOADING=1 then READY=1, both scripts reloaded as nobody"
else bad "root: reload"; cat "$W/notify.log"; grep -i reload "$W/root.log"; fi

# --- 4. SIGKILL, then a clean restart ----------------------------------------------------
echo "--- 4. SIGKILL and restart at ${SECONDS}s"
stop KILL
(( $(table_count) == 1 && $(helpers) == 4 )) && ok "kill: the table and the 4 helpers stay after SIGKILL" \
  || { bad "kill: table $(table_count), helpers $(helpers)"; }
export NOTIFY_SOCKET=$W/sd/notify
start restart "$W/nobody.toml"
unset NOTIFY_SOCKET
grep -q 'removed the nftables table an earlier run left' "$W/restart.log" && grep -q 'msg="installed nftables table"' "$W/restart.log" \
  && ok "restart: the stale table was removed and installed anew" || { bad "restart: no replacement logged"; cat "$W/restart.log"; }
inns "$FW" nft list table inet ctlua >"$W/reinstalled.nft" 2>&1
(( $(table_count) == 1 )) && diff -q "$W/installed.nft" "$W/reinstalled.nft" >/dev/null \
  && ok "restart: one table inet ctlua, the same rules as before" || { bad "restart: the table differs"; diff "$W/installed.nft" "$W/reinstalled.nft"; }
(( $(helpers) == 4 )) && ok "restart: 4 helpers, none duplicated" || { bad "restart: helpers"; cat "$W/helpers.txt"; }
threads_only_net_admin restart 65534
traffic restart ftp-ipv6-epsv tftp-ipv6
stop TERM
(( rc == 0 )) && ok "restart: SIGTERM, exit status 0" || bad "restart: exit status $rc"
notified 'STOPPING=1' && ok "restart: STOPPING=1 on SIGTERM" || bad "restart: no STOPPING=1"
gone restart

echo "--- done at ${SECONDS}s"
k=$(cat "$W"/*.log | grep -c "script failed")
(( k == 0 )) && ok "no script failures in the ctlua logs" || bad "$k script failures"
finish
