#!/usr/bin/env bash
# ftp-hunt.sh - end-to-end test of NAT port hunting on the kernel path.
#
# Two clients behind one masquerading firewall announce the same active
# port (PORT ...,156,64 = 40000) to the same server. After NAT both would
# be expected at the firewall's outside address and port 40000: the
# kernel refuses the second expectation (EBUSY), and ctlua's FTP helper
# must hunt for a free port like nf_nat_ftp, write it into the second
# client's PORT, and make the data connection to that port reach the
# second client's real port 40000. Runs as root on a kernel with
# nfnetlink_cthelper (inside tests/vm/run.sh on our machines):
#
#   cli1 192.0.2.1 --\
#                     fw 198.51.100.254 (ctlua, masquerade) -- srv 198.51.100.2
#   cli2 192.0.3.1 --/
#
# The server is a small fake FTP server: it answers every command with 200
# and never connects by itself, so both expectations stay pending; the
# test then has it open the two data connections the PORT lines it got
# announce, and each client's listener must receive its token.
#
#   CTLUA_BIN=path/to/ctlua tests/e2e/ftp-hunt.sh
# Exit 0: passed. Output ends with "N passed, M failed".
set -uo pipefail
CTLUA=${CTLUA_BIN:?set CTLUA_BIN to the ctlua binary}
PY=/usr/bin/python3
NS=hunt$$
C1=$NS-c1 C2=$NS-c2 FW=$NS-fw SRV=$NS-srv NSES="$C1 $C2 $FW $SRV"
W=$(mktemp -d /tmp/ctlua-hunt.XXXXXX)
. "$(dirname "$0")/lib.sh"
on_failure() { [[ -f $W/ctlua.log ]] && { echo "--- ctlua log (tail)"; tail -30 "$W/ctlua.log"; }; }
for t in ip nft conntrack "$PY"; do need "$t"; done
need_helper_kernel ftp

# --- topology ------------------------------------------------------------------
for n in $C1 $C2 $FW $SRV; do ip netns add "$n"; inns "$n" ip link set lo up; done
ip link add c0 netns "$C1" type veth peer name f0 netns "$FW"
ip link add c0 netns "$C2" type veth peer name f2 netns "$FW"
ip link add s0 netns "$SRV" type veth peer name f1 netns "$FW"
inns "$C1" ip addr add 192.0.2.1/24 dev c0;  inns "$FW" ip addr add 192.0.2.254/24 dev f0
inns "$C2" ip addr add 192.0.3.1/24 dev c0;  inns "$FW" ip addr add 192.0.3.254/24 dev f2
inns "$SRV" ip addr add 198.51.100.2/24 dev s0; inns "$FW" ip addr add 198.51.100.254/24 dev f1
for l in "$C1 c0" "$C2 c0" "$FW f0" "$FW f1" "$FW f2" "$SRV s0"; do set -- $l; inns "$1" ip link set "$2" up; done
inns "$C1" ip route add default via 192.0.2.254
inns "$C2" ip route add default via 192.0.3.254
inns "$SRV" ip route add default via 198.51.100.254
inns "$FW" sysctl -qw net.ipv4.ip_forward=1

# --- the fake server and the clients' data listeners -------------------------------
# The server logs every line it gets as "CONN LINE"; on SIGUSR1 it connects to
# the address and port of each PORT line it got and sends "token CONN".
cat > "$W/server.py" <<'PY'
import re, signal, socket, sys, threading
log = open(sys.argv[1], "a", buffering=1)
ports = {}
def control(c, n):
    c.sendall(b"220 fake\r\n")
    f = c.makefile("rb")
    for line in f:
        text = line.decode(errors="replace").strip()
        log.write("%d %s\n" % (n, text))
        m = re.match(r"PORT (\d+),(\d+),(\d+),(\d+),(\d+),(\d+)$", text)
        if m:
            v = [int(x) for x in m.groups()]
            ports[n] = ("%d.%d.%d.%d" % tuple(v[:4]), v[4] * 256 + v[5])
        c.sendall(b"200 ok\r\n")
def connect_all(*_):
    for n, (a, p) in sorted(ports.items()):
        try:
            s = socket.create_connection((a, p), timeout=5)
            s.sendall(b"token %d\n" % n)
            s.close()
            log.write("%d connected %s:%d\n" % (n, a, p))
        except OSError as e:
            log.write("%d connect %s:%d failed: %s\n" % (n, a, p, e))
signal.signal(signal.SIGUSR1, lambda *a: threading.Thread(target=connect_all).start())
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 21)); srv.listen(8)
log.write("listening\n")
n = 0
while True:
    c, _ = srv.accept(); n += 1
    threading.Thread(target=control, args=(c, n), daemon=True).start()
PY
# A client: listens on 40000, opens a control connection, announces the
# port, keeps the control connection open and prints what arrives.
cat > "$W/client.py" <<'PY'
import socket, sys, time
me, out = sys.argv[1], open(sys.argv[2], "a", buffering=1)
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((me, 40000)); l.listen(1)
c = socket.create_connection(("198.51.100.2", 21), timeout=10)
f = c.makefile("rb")
f.readline()                                   # 220
c.sendall(b"USER anonymous\r\n"); f.readline() # the first line is never examined
# Twice: the second, from the same control connection, must replace the
# first expectation (as the kernel's helpers do), not clash with it.
for _ in range(2):
    c.sendall(b"PORT %s,156,64\r\n" % me.replace(".", ",").encode())
    out.write("reply %s\n" % f.readline().decode().strip())
l.settimeout(60)
d, peer = l.accept()
out.write("data from %s:%d %s\n" % (peer[0], peer[1], d.recv(64).decode().strip()))
time.sleep(1)
PY
inns "$SRV" "$PY" "$W/server.py" "$W/server.log" &
for _ in $(seq 200); do grep -q listening "$W/server.log" 2>/dev/null && break; sleep 0.1; done

# --- ctlua in the firewall -------------------------------------------------------
ctlua_config ftp 4
start_ctlua "$FW"
{ "$CTLUA" rules --config "$W/ctlua.toml"; cat <<'NFT'
table inet filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		tcp dport 21 ct state new accept
	}
}
table inet nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "f1" masquerade
	}
}
NFT
} > "$W/rules.nft"
inns "$FW" nft -f "$W/rules.nft" || { bad "nft rejected the rules"; cat "$W/rules.nft"; finish; }

# --- two clients announce the same port -------------------------------------------
inns "$C1" "$PY" "$W/client.py" 192.0.2.1 "$W/c1.log" &
for _ in $(seq 100); do [[ $(grep -c "^reply" "$W/c1.log" 2>/dev/null) == 2 ]] && break; sleep 0.1; done
inns "$C2" "$PY" "$W/client.py" 192.0.3.1 "$W/c2.log" &
for _ in $(seq 100); do grep -q "^reply" "$W/c2.log" 2>/dev/null && break; sleep 0.1; done
[[ $(grep -c "^reply 200" "$W/c1.log") == 2 && $(grep -c "^reply 200" "$W/c2.log") == 2 ]] \
  && ok "both clients announced port 40000, twice (the second PORT replaces the first expectation)" \
  || { bad "the clients got no answer to PORT"; cat "$W/c1.log" "$W/c2.log" "$W/server.log"; }

p1=$(awk '$1 == 1 && $2 == "PORT" { p = $3 } END { print p }' "$W/server.log")
p2=$(awk '$1 == 2 && $2 == "PORT" { p = $3 } END { print p }' "$W/server.log")
port() { IFS=, read -r a b c d h l <<<"$1"; echo $((h * 256 + l)); }
[[ $p1 == 198,51,100,254,156,64 ]] && ok "first client's PORT rewritten to the firewall's address, port kept (40000)" \
  || bad "first client's PORT reached the server as '$p1'"
if [[ $p2 == 198,51,100,254,* && $(port "$p2") != 40000 ]]; then
  ok "second client's PORT rewritten to a hunted port ($(port "$p2"), 40000 was taken)"
else bad "second client's PORT reached the server as '$p2' (want the firewall's address and another port than 40000)"; fi
exps=$(inns "$FW" conntrack -L expect 2>/dev/null)
grep -q "dport=40000 " <<<"$exps" && grep -q "dport=$(port "${p2:-0,0,0,0,0,0}") " <<<"$exps" \
  && ok "the kernel holds both expectations (40000 and $(port "$p2"))" || { bad "expectations in the kernel:"; echo "$exps"; }

# --- the server connects to both announced ports ------------------------------------
kill -USR1 "$(inns "$SRV" ss -ltnp | sed -n 's/.*:21 .*pid=\([0-9]*\).*/\1/p' | head -1)"
for _ in $(seq 100); do grep -q "^data" "$W/c1.log" && grep -q "^data" "$W/c2.log" && break; sleep 0.1; done
grep -q "^data from 198.51.100.2:[0-9]* token 1" "$W/c1.log" && ok "data connection to 40000 reached the first client" \
  || { bad "first client got no data connection"; cat "$W/c1.log" "$W/server.log"; }
grep -q "^data from 198.51.100.2:[0-9]* token 2" "$W/c2.log" && ok "data connection to the hunted port reached the second client's port 40000" \
  || { bad "second client got no data connection"; cat "$W/c2.log" "$W/server.log"; }
no_script_failures
grep -q "level=ERROR" "$W/ctlua.log" && { bad "ctlua logged errors"; grep "level=ERROR" "$W/ctlua.log"; }
finish
