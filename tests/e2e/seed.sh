#!/usr/bin/env bash
# seed.sh - the user-space helper walkthrough (nfct-helper-add test 0 + CT
# --helper test + a queue reader), with ctlua: register a helper "test" on
# queue 0, attach it with a rule, send traffic, and check that the Lua
# callback saw every packet with its conntrack (ctinfo, conntrack id).
#
#   CTLUA_BIN=path/to/ctlua tests/e2e/seed.sh      (root, kernel with nfnetlink_cthelper)
set -uo pipefail
CTLUA=${CTLUA_BIN:?set CTLUA_BIN to the ctlua binary}
NS=seed$$ W=$(mktemp -d /tmp/ctlua-seed.XXXXXX)
pass=0 fail=0
ok()  { echo "PASS: $*"; pass=$((pass+1)); }
bad() { echo "FAIL: $*"; fail=$((fail+1)); }
cleanup() { [[ -n ${CTPID:-} ]] && kill "$CTPID" 2>/dev/null; ip netns del $NS 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
modprobe -a nfnetlink_cthelper nfnetlink_queue nf_conntrack_netlink 2>/dev/null
[[ -d /sys/module/nfnetlink_cthelper ]] || { echo "FAIL: kernel lacks nfnetlink_cthelper"; echo "0 passed, 1 failed"; exit 1; }

cat > "$W/test.lua" <<'LUA'
local log = require("ctlua.log")
return {
  name = "test", l3 = "ipv4", l4 = "udp", ports = { 9999 },
  policies = { { name = "test", max_expected = 1, timeout = 30 } },
  on_packet = function(pkt, conn)
    log.info("seen", { ctinfo = pkt:ctinfo(), id = conn:id(), payload = pkt:payload(),
                       helper = conn:helper(), confirmed = tostring(conn:has_status("confirmed")) })
  end,
}
LUA
printf '[daemon]\non_exit = "delete"\n[[helper]]\nscript = "%s"\nqueue = 0\n' "$W/test.lua" > "$W/c.toml"
ip netns add $NS; ip netns exec $NS ip link set lo up
ip netns exec $NS "$CTLUA" run --config "$W/c.toml" >"$W/log" 2>&1 &
CTPID=$!
for _ in $(seq 100); do grep -q "ctlua running" "$W/log" && break; sleep 0.1; done
grep -q "ctlua running" "$W/log" && ok "helper test registered on queue 0" || { bad "ctlua did not start"; cat "$W/log"; }
ip netns exec $NS iptables -t raw -A OUTPUT -p udp --dport 9999 -j CT --helper test && ok "CT --helper test rule added" || bad "iptables CT --helper test"
# One UDP flow over loopback: a request, an answer, a second request.
ip netns exec $NS /usr/bin/python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 9999))
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(5)
c.sendto(b"ping1", ("127.0.0.1", 9999)); d, a = s.recvfrom(100)
s.sendto(b"pong1", a); c.recvfrom(100)
c.sendto(b"ping2", ("127.0.0.1", 9999)); s.recvfrom(100)'
sleep 1
# Over loopback the kernel runs the helper twice per packet: at the
# output path's confirmation and again on input.
n=$(grep -c 'msg=seen' "$W/log")
(( n == 6 )) && ok "the Lua callback saw the 3 packets, each twice over loopback" || { bad "callback saw $n packets"; grep seen "$W/log"; }
grep -q 'ctinfo=new helper=test id=[0-9]* payload=ping1' "$W/log" && ok "request: ctinfo new, helper test attached" || bad "no ctinfo=new request"
grep -q 'ctinfo=established_reply helper=test id=[0-9]* payload=pong1' "$W/log" && ok "answer: established_reply" || bad "no established_reply answer"
grep -q 'ctinfo=established helper=test id=[0-9]* payload=ping2' "$W/log" && ok "second request: established" || bad "no established request"
ids=$(grep 'msg=seen' "$W/log" | grep -o ' id=[0-9]*' | sort -u | wc -l)
(( ids == 1 )) && ok "one conntrack id for the flow" || bad "$ids conntrack ids"
kill -TERM $CTPID; wait $CTPID; CTPID=
grep -q "a rule .* still references it" "$W/log" && ok "exit says the helper is still referenced by the rule" || { bad "no referenced-helper message"; tail -5 "$W/log"; }
ip netns exec $NS iptables -t raw -F OUTPUT
"$CTLUA" helpers --delete test && ok "helper deleted once the rule is gone" || bad "ctlua helpers --delete test failed"
"$CTLUA" helpers >"$W/helpers.txt" 2>&1
grep -q '^test ' "$W/helpers.txt" && bad "helper test still listed" || ok "no stale helper left"
echo "$pass passed, $fail failed"
(( fail == 0 ))
