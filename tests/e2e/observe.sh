#!/usr/bin/env bash
# observe.sh - end-to-end test of what an administrator sees of a running
# daemon: `ctlua status` (table and --json), `ctlua expect` (listing and
# --watch), the Prometheus metrics, `ctlua reload` and the JSON log.
#
# Runs as root on a kernel with nfnetlink_cthelper and the NFQUEUE conntrack
# glue (inside tests/vm/run.sh on our machines). The topology of ftp.sh and
# tftp.sh: client -- firewall (router, ctlua) -- server, the firewall
# forwarding only new FTP control connections and TFTP requests, and
# RELATED,ESTABLISHED traffic. One daemon serves the shipped FTP helper on
# queue 3 and the TFTP helper on queue 4, with metrics on the firewall's
# 127.0.0.1:9469, a control socket in the work directory and JSON logs.
#
#   CTLUA_BIN=path/to/ctlua tests/e2e/observe.sh
# Exit 0: passed. Output ends with "N passed, M failed".
set -uo pipefail
CTLUA=${CTLUA_BIN:?set CTLUA_BIN to the ctlua binary}
PY=/usr/bin/python3
NS=cto$$
CLI=$NS-cli FW=$NS-fw SRV=$NS-srv NSES="$CLI $FW $SRV"
W=$(mktemp -d /tmp/ctlua-e2e-observe.XXXXXX)
. "$(dirname "$0")/lib.sh"
for t in ip nft curl in.tftpd timeout "$PY"; do need "$t"; done
need_helper_kernel ftp
need_helper_kernel tftp
topology "$CLI" "$FW" "$SRV"
SOCK=$W/ctlua.sock
S4=198.51.100.2

# --- servers: FTP (pyftpdlib) and TFTP (tftpd-hpa) ------------------------------
mkdir -p "$W/root"; chmod 0777 "$W/root"
head -c 3000 /dev/urandom | base64 > "$W/root/a.txt"
head -c 30000 /dev/urandom > "$W/root/r.bin"
start_ftpd "$SRV" "$W/root"
inns "$SRV" in.tftpd --foreground --permissive --user root --secure "$W/root" >"$W/tftpd.log" 2>&1 &
for _ in $(seq 100); do inns "$SRV" ss -lun | grep -q ':69 ' && break; sleep 0.1; done
inns "$SRV" ss -lun | grep -q ':69 ' && ok "FTP and TFTP servers listen" || die "tftpd did not start: $(cat "$W/tftpd.log")"

# --- ctlua: two helpers, metrics, control socket, JSON logs --------------------
cp "$E2E/../../scripts/ftp/helper.lua" "$W/ftp.lua"
cp "$E2E/../../scripts/tftp/helper.lua" "$W/tftp.lua"
cat > "$W/ctlua.toml" <<CONF
[daemon]
on_exit = "delete"
budget = "1s"          # wall-clock: a loaded TCG host stalls vCPUs (see lib.sh)
log_level = "debug"
log_format = "json"
metrics = "127.0.0.1:9469"
socket = "$SOCK"
watch = false          # reloads only when asked: the versions are counted
[[helper]]
script = "$W/ftp.lua"
queue = 3
[[helper]]
script = "$W/tftp.lua"
queue = 4
CONF
start_ctlua "$FW"
[[ -S $SOCK && $(stat -c %a "$SOCK") == 600 ]] && ok "control socket $SOCK, mode 0600" || bad "control socket: $(ls -l "$SOCK" 2>&1)"
{ "$CTLUA" rules --config "$W/ctlua.toml"; forward_filter "tcp dport 21 ct state new accept" "udp dport 69 ct state new accept"; } >"$W/rules.nft"
inns "$FW" nft -f "$W/rules.nft" && ok "rules of both helpers and the dropping firewall load" || { bad "nft rejected the rules"; cat "$W/rules.nft"; }

scrape before && grep -q '^ctlua_packets_total{helper="ftp"}' "$W/before.prom" \
  && ok "metrics served on the firewall's 127.0.0.1:9469" || { bad "no metrics"; head -5 "$W/before.prom"; }

# --- a pending FTP data connection: login, a foreign PORT, PASV, then hold ----
mkfifo "$W/hold"
inns "$CLI" "$PY" -u -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 21), timeout=60)
f = s.makefile("rb")
def reply():
    line = f.readline()
    while line[3:4] != b" ":
        line = f.readline()
    return line.decode().strip()
reply()
for c in ("USER anonymous", "PASS x@", "PORT 10,0,0,1,4,1", "PASV"):
    s.sendall(c.encode() + b"\r\n"); print(c, "->", reply())
open(sys.argv[2]).read()
' $S4 "$W/hold" >"$W/pasv.txt" 2>&1 &
for _ in $(seq 300); do grep -q "PASV -> 227" "$W/pasv.txt" && break; sleep 0.1; done
pasv=$(grep -o 'PASV -> 227 .*' "$W/pasv.txt" | grep -oE '[0-9]+,[0-9]+,[0-9]+,[0-9]+,[0-9]+,[0-9]+' | awk -F, '{ print $5*256+$6 }')
[[ -n $pasv ]] && ok "an FTP client waits in passive mode on port $pasv" || { bad "no 227 reply"; cat "$W/pasv.txt"; }

inns "$FW" "$CTLUA" expect >"$W/expect.txt" 2>&1; rc=$?
if (( rc == 0 )) && grep -qE "^ftp timeout=[0-9]+ proto=tcp src=192\.0\.2\.1 dst=198\.51\.100\.2 sport=0 dport=$pasv .*master-src=192\.0\.2\.1 master-dst=198\.51\.100\.2 sport=[0-9]+ dport=21 class=0 policy=" "$W/expect.txt"; then
  ok "ctlua expect lists the pending data connection: $(grep -m1 "dport=$pasv" "$W/expect.txt")"
else bad "ctlua expect (status $rc) does not list the expectation on port $pasv"; cat "$W/expect.txt"; fi
inns "$FW" "$CTLUA" expect --json --helper ftp >"$W/expect.json" 2>&1
"$PY" - "$W/expect.json" "$pasv" <<'PY' && ok "ctlua expect --json --helper ftp: the same expectation, as JSON" || { bad "ctlua expect --json"; cat "$W/expect.json"; }
import json, sys
xs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert any(x["helper"] == "ftp" and x["dport"] == int(sys.argv[2]) and x["master_dport"] == 21 and x["timeout"] > 0 for x in xs), xs
assert all(x["helper"] == "ftp" for x in xs), xs
PY
inns "$FW" "$CTLUA" expect --helper tftp >"$W/expect-tftp.txt" 2>&1
[[ ! -s $W/expect-tftp.txt ]] && ok "ctlua expect --helper tftp leaves out ftp's" || { bad "ctlua expect --helper tftp listed:"; cat "$W/expect-tftp.txt"; }

# The foreign PORT made the script log; the JSON record says where.
for _ in $(seq 50); do grep -q "not the sender" "$W/ctlua.log" && break; sleep 0.1; done
"$PY" - "$W/ctlua.log" "$W/ftp.lua" <<'PY' && ok "JSON logs; the script's record carries helper, connection and ftp.lua:line" || { bad "the script's log record"; grep "not the sender" "$W/ctlua.log"; }
import json, re, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
r = [r for r in recs if "not the sender" in r["msg"]][0]
assert r["helper"] == "ftp" and r["conn"] > 0 and re.fullmatch(re.escape(sys.argv[2]) + r":\d+", r["at"]), r
PY

# --- ctlua expect --watch sees a TFTP expectation come and go ------------------
inns "$FW" "$CTLUA" expect --watch --helper tftp >"$W/watch.txt" 2>"$W/watch.err" &
WPID=$!
for _ in $(seq 100); do grep -q watching "$W/watch.err" && break; sleep 0.1; done
grep -q watching "$W/watch.err" || bad "ctlua expect --watch did not start: $(cat "$W/watch.err")"
inns "$CLI" timeout 20 curl -sS --max-time 15 "tftp://$S4/r.bin" -o "$W/got.bin" 2>"$W/tftp-cli.log" && cmp -s "$W/got.bin" "$W/root/r.bin" \
  && ok "TFTP read through the dropping firewall" || { bad "TFTP read failed"; cat "$W/tftp-cli.log"; }
for _ in $(seq 100); do grep -q "^\[DESTROY\] tftp" "$W/watch.txt" && break; sleep 0.1; done
grep -qE "^\[NEW\] tftp timeout=[0-9]+ proto=udp src=198\.51\.100\.2 dst=192\.0\.2\.1 .*master-dst=198\.51\.100\.2 sport=[0-9]+ dport=69" "$W/watch.txt" \
  && ok "ctlua expect --watch: $(grep -m1 '^\[NEW\]' "$W/watch.txt" | cut -c1-90)..." || { bad "no [NEW] tftp event"; cat "$W/watch.txt" "$W/watch.err"; }
grep -q "^\[DESTROY\] tftp" "$W/watch.txt" && ok "ctlua expect --watch: [DESTROY] when the data flow came" || bad "no [DESTROY] tftp event"
kill "$WPID"; wait "$WPID" 2>/dev/null

# --- more traffic: FTP transfers (passive, active) -----------------------------
for args in "" "--ftp-port 192.0.2.1"; do
  # shellcheck disable=SC2086
  inns "$CLI" timeout 20 curl -sS --max-time 15 $args "ftp://$S4/a.txt" -o "$W/a.txt" 2>>"$W/ftp-cli.log" && cmp -s "$W/a.txt" "$W/root/a.txt" \
    && ok "FTP ${args:-passive} transfer through the dropping firewall" || { bad "FTP ${args:-passive} transfer failed"; tail -3 "$W/ftp-cli.log"; }
done

# --- metrics moved -------------------------------------------------------------
scrape after
for m in 'ctlua_packets_total{helper="ftp"}' 'ctlua_packets_total{helper="tftp"}' \
         'ctlua_verdicts_total{helper="ftp",verdict="accept"}' 'ctlua_expectations_inserted_total{helper="ftp"}' \
         'ctlua_expectations_created_total{helper="tftp"}' 'ctlua_queue_packets_total{helper="ftp",queue="3"}' \
         'ctlua_queue_verdicts_total{helper="tftp",queue="4"}' 'ctlua_packet_duration_seconds_count{helper="ftp"}'; do
  b=$(metric "$m" "$W/before.prom") a=$(metric "$m" "$W/after.prom")
  awk -v a="$a" -v b="$b" 'BEGIN { exit !(a > b) }' && ok "metric $m rose: $b -> $a" || bad "metric $m did not rise: $b -> $a"
done
o=$(metric 'ctlua_queue_verdicts_outstanding{helper="ftp",queue="3"}' "$W/after.prom")
grep -q '^ctlua_queue_enobufs_total{helper="ftp",queue="3"}' "$W/after.prom" && [[ $o == 0 ]] \
  && ok "per-queue ENOBUFS and outstanding verdicts (0) exported" || bad "queue metrics missing (outstanding '$o')"

# --- ctlua status ----------------------------------------------------------------
"$CTLUA" status --socket "$SOCK" >"$W/status.txt" 2>&1; rc=$?
# Columns: HELPER SCRIPT SHA256 VERSION LOADED PACKETS ...
if (( rc == 0 )) && awk -v f="$W/ftp.lua" -v t="$W/tftp.lua" '
     $1 == "ftp" && $2 == f && $4 == 1 && $6 > 0 { a=1 } $1 == "tftp" && $2 == t && $6 > 0 { b=1 } END { exit !(a && b) }' "$W/status.txt"; then
  ok "ctlua status: both helpers, their scripts, version 1 and packets"
else bad "ctlua status (status $rc)"; cat "$W/status.txt"; fi
grep -qE "^3 +ftp +[1-9]" "$W/status.txt" && grep -qE "^4 +tftp +[1-9]" "$W/status.txt" && ok "ctlua status: the queues' counters" || bad "ctlua status: no queue rows"
"$CTLUA" status --json --socket "$SOCK" >"$W/status.json" 2>&1
"$PY" - "$W/status.json" "$W" <<'PY' && ok "ctlua status --json: helpers, hashes, counters, queues, uptime" || { bad "ctlua status --json"; head -40 "$W/status.json"; }
import hashlib, json, sys
st = json.load(open(sys.argv[1]))
hs = {h["name"]: h for h in st["helpers"]}
assert set(hs) == {"ftp", "tftp"} and st["uptime_seconds"] > 0 and st["pid"] > 0, st
for n, h in hs.items():
    assert h["sha256"] == hashlib.sha256(open(f"{sys.argv[2]}/{n}.lua", "rb").read()).hexdigest(), h
    assert h["counters"]["packets"] > 0 and h["queue_counters"]["verdicts"] > 0 and h["latency"]["count"] > 0, h
    assert h["counters"]["errors"] == 0, h["recent_errors"]
PY

# --- ctlua reload: a changed script loads, a broken one does not ----------------
echo "-- changed by observe.sh" >>"$W/ftp.lua"
"$CTLUA" reload --socket "$SOCK" ftp >"$W/reload1.txt" 2>&1; rc=$?
(( rc == 0 )) && grep -q "^ftp: loaded version 2 (sha256 $(sha256sum "$W/ftp.lua" | cut -c1-12))" "$W/reload1.txt" \
  && ok "ctlua reload ftp: $(cat "$W/reload1.txt")" || { bad "ctlua reload of a changed script (status $rc)"; cat "$W/reload1.txt"; }
echo "this is not Lua" >>"$W/ftp.lua"
"$CTLUA" reload --socket "$SOCK" ftp >"$W/reload2.txt" 2>&1; rc=$?
(( rc == 1 )) && grep -q "^ftp: not loaded, version 2 keeps serving: .*ftp.lua" "$W/reload2.txt" \
  && ok "ctlua reload of a broken script says why: $(cut -c1-120 "$W/reload2.txt")" || { bad "ctlua reload of a broken script (status $rc)"; cat "$W/reload2.txt"; }
"$CTLUA" reload --socket "$SOCK" nope >"$W/reload3.txt" 2>&1 && bad "reload of an unknown helper succeeded" \
  || { grep -q 'no helper "nope"' "$W/reload3.txt" && ok "ctlua reload nope: $(cat "$W/reload3.txt")" || { bad "reload nope"; cat "$W/reload3.txt"; }; }
inns "$CLI" timeout 20 curl -sS --max-time 15 "ftp://$S4/a.txt" -o "$W/a2.txt" 2>>"$W/ftp-cli.log" && cmp -s "$W/a2.txt" "$W/root/a.txt" \
  && ok "version 2 keeps serving FTP after the refused reload" || { bad "FTP after the refused reload"; tail -3 "$W/ftp-cli.log"; }
"$CTLUA" status --json --socket "$SOCK" >"$W/status2.json" 2>&1
"$PY" - "$W/status2.json" <<'PY' && ok "ctlua status: version 2, 1 reload, 1 failure, the last reload and error say why" || { bad "status after the reloads"; cat "$W/status2.json"; }
import json, sys
h = {h["name"]: h for h in json.load(open(sys.argv[1]))["helpers"]}["ftp"]
c = h["counters"]
assert h["version"] == 2 and c["reloads"] == 1 and c["reload_failures"] == 1, c
assert h["last_reload"]["loaded"] is False and "ftp.lua" in h["last_reload"]["error"], h["last_reload"]
assert h["recent_errors"][-1]["kind"] == "reload", h["recent_errors"]
PY
"$CTLUA" status --socket "$SOCK" >"$W/status2.txt" 2>&1
grep -q "ftp  reload  .*ftp.lua" "$W/status2.txt" && grep -q "ftp  not loaded, version 2 serves" "$W/status2.txt" \
  && ok "ctlua status lists the failed reload under last errors and last reloads" || { bad "status table after the reloads"; cat "$W/status2.txt"; }
scrape reloaded
[[ $(metric 'ctlua_reload_failures_total{helper="ftp"}' "$W/reloaded.prom") == 1 && $(metric 'ctlua_reloads_total{helper="ftp"}' "$W/reloaded.prom") == 1 \
   && $(metric 'ctlua_helper_version{helper="ftp"}' "$W/reloaded.prom") == 2 ]] \
  && ok "metrics: ctlua_reloads_total 1, ctlua_reload_failures_total 1, ctlua_helper_version 2" || { bad "reload metrics"; grep -E 'reload|version' "$W/reloaded.prom"; }

echo >"$W/hold"   # the held FTP client ends
kill -TERM "$CTPID"; wait "$CTPID"; rc=$?; CTPID=
(( rc == 0 )) && ok "ctlua exited 0 on SIGTERM" || bad "ctlua exit status $rc"
[[ ! -e $SOCK ]] && ok "the control socket is gone with the daemon" || bad "control socket left behind"
no_script_failures
echo "--- status as ctlua status printed it:"; cat "$W/status2.txt"
finish
