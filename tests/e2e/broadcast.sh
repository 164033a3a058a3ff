#!/usr/bin/env bash
# broadcast.sh - end-to-end test of the broadcast helpers (scripts/netbios-ns,
# scripts/snmp) on the kernel path: ctlua runs on the host that sends the
# broadcast queries, and learns the netmask from its interfaces over
# rtnetlink (ctlua.iface).
#
# Runs as root on a kernel with nfnetlink_cthelper (inside tests/vm/run.sh
# on our machines). Two namespaces on a veth pair: cli 192.0.2.1/24 (ctlua,
# nmblookup, the SNMP client; its INPUT drops what is neither RELATED nor
# ESTABLISHED) and srv 192.0.2.2/24 (nmbd with the name E2ESRV, a scripted
# SNMP agent, tests/oracle/snmpbcast.py), both with brd +. A query to
# 192.0.2.255 is answered by unicast from srv, which only the helper's
# expectation (source 192.0.2.0/24, port 137 or 161) lets in. Controls:
# without the ctlua rules no answer comes in; with cli's address re-added
# without a broadcast address (no brd), the helper finds no interface and
# no answer comes in, as with the kernel's helper.
#
#   CTLUA_BIN=path/to/ctlua tests/e2e/broadcast.sh
# Exit 0: passed. Output ends with "N passed, M failed".
set -uo pipefail
CTLUA=${CTLUA_BIN:?set CTLUA_BIN to the ctlua binary}
NS=ctb$$
CLI=$NS-cli SRV=$NS-srv NSES="$CLI $SRV"
W=$(mktemp -d /tmp/ctlua-e2e-bcast.XXXXXX)
. "$(dirname "$0")/lib.sh"
ORACLE=$(cd "$E2E/../oracle" && pwd)
PY=/usr/bin/python3
for t in ip nft conntrack nmbd nmblookup $PY timeout; do need "$t" "apt-get install samba samba-common-bin python3"; done
for h in netbios_ns snmp; do need_helper_kernel $h; done

for n in $CLI $SRV; do ip netns add "$n" || die "ip netns add $n"; inns "$n" ip link set lo up; done
ip link add v0 netns "$CLI" type veth peer name v1 netns "$SRV" || die "no veth"
inns "$CLI" ip addr add 192.0.2.1/24 brd + dev v0; inns "$SRV" ip addr add 192.0.2.2/24 brd + dev v1
inns "$CLI" ip link set v0 up; inns "$SRV" ip link set v1 up

q=4
{ echo '[daemon]'; echo 'budget = "1s"'; echo 'log_level = "debug"'
  for h in netbios-ns snmp; do
    cp "$E2E/../../scripts/$h/helper.lua" "$W/$h.lua"
    printf '[[helper]]\nscript = "%s"\nqueue = %d\n' "$W/$h.lua" $q; q=$((q + 1))
  done; } >"$W/ctlua.toml"
start_ctlua "$CLI"
"$CTLUA" rules --config "$W/ctlua.toml" >"$W/ctlua-rules.nft" 2>&1
grep -q 'udp dport 137 ct helper set "netbios-ns-ip"' "$W/ctlua-rules.nft" && grep -q 'udp dport 161 ct helper set "snmp-ip"' "$W/ctlua-rules.nft" \
  && inns "$CLI" nft -f "$W/ctlua-rules.nft" && ok "ctlua rules attach netbios-ns and snmp and load" \
  || { bad "ctlua rules are wrong or do not load"; cat "$W/ctlua-rules.nft"; }
inns "$CLI" nft -f - <<'NFT' || bad "nft rejected the input filter"
table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif lo accept
		meta l4proto ipv6-icmp accept
	}
}
NFT

# smbconf HOST ADDR: a configuration of its own for each side. The two
# namespaces share one file system, and nmblookup also reads answers that
# an nmbd forwards over its packet socket (the "nmbd:socket dir"): with a
# shared directory the client could hear the server's nmbd without any
# packet passing the firewall.
smbconf() {
  local d=$W/smb-$1
  mkdir -p "$d"/{lock,state,cache,private,pid,sock}
  cat >"$d/smb.conf" <<CONF
[global]
	netbios name = E2E$1
	workgroup = CTLUA
	interfaces = $2/24
	bind interfaces only = yes
	lock directory = $d/lock
	state directory = $d/state
	cache directory = $d/cache
	private dir = $d/private
	pid directory = $d/pid
	nmbd:socket dir = $d/sock
	log file = $d/log
CONF
}
smbconf SRV 192.0.2.2; smbconf CLI 192.0.2.1
inns "$SRV" nmbd -F --no-process-group -d 1 -s "$W/smb-SRV/smb.conf" >"$W/nmbd.log" 2>&1 &
inns "$SRV" $PY "$ORACLE/snmpbcast.py" agent 192.0.2.2 >"$W/agent.log" 2>&1 &

lookup() {
  timeout -s KILL 20 ip netns exec "$CLI" nmblookup -s "$W/smb-CLI/smb.conf" -B 192.0.2.255 E2ESRV >"$W/lookup.log" 2>&1
  grep -q "192.0.2.2 E2ESRV" "$W/lookup.log"
}
snmp() { timeout -s KILL 20 ip netns exec "$CLI" $PY "$ORACLE/snmpbcast.py" get 192.0.2.255 1 2>&1 | grep -q "answer from 192.0.2.2"; }

# diag: what the kernel and ctlua saw of a query (one more, under watch).
diag() {
  ip netns exec "$CLI" conntrack -E >"$W/ct-events.log" 2>&1 &
  local ep=$!; sleep 0.5
  lookup; sleep 1; kill $ep; wait $ep 2>/dev/null
  echo "--- conntrack events of one query"; head -20 "$W/ct-events.log"
  echo "--- queues"; inns "$CLI" cat /proc/net/netfilter/nfnetlink_queue
  echo "--- addresses"; inns "$CLI" ip -4 addr show v0
  echo "--- ctlua"; tail -20 "$W/ctlua.log"
  echo "--- nmbd asked by unicast from srv itself"; inns "$SRV" timeout 10 nmblookup -s "$W/smb-SRV/smb.conf" -U 192.0.2.2 E2ESRV 2>&1 | tail -2
  echo "--- nmbd"; tail -15 "$W/nmbd.log"; tail -15 "$W/smb-SRV/log"* 2>/dev/null
}

# nmbd answers once its name is registered (several seconds, more under TCG).
ready=0
for _ in $(seq 15); do lookup && { ready=1; break; }; sleep 1; done
(( ready )) && ok "netbios-ns: nmblookup -B 192.0.2.255 gets nmbd's answer through the dropping input filter" \
  || { bad "netbios-ns: no answer to the broadcast query"; diag; }
snmp && ok "snmp: the agent's answer to a broadcast GetRequest passes the dropping input filter" \
  || { bad "snmp: no answer to the broadcast request"; inns "$CLI" conntrack -L expect; }

# leaked WHAT: a control got an answer; show how it came in.
leaked() {
  bad "$1"
  echo "--- the client's output"; cat "$W/lookup.log"
  echo "--- conntrack"; inns "$CLI" conntrack -L 2>&1; inns "$CLI" conntrack -L expect 2>&1
  echo "--- ctlua"; tail -20 "$W/ctlua.log"
}

# --- controls ---------------------------------------------------------------------
# A control starts from no expectation: those of the checks above (3 s for
# netbios-ns, 30 s for snmp) must not answer for a query sent after the
# rules went.
inns "$CLI" nft delete table inet ctlua
inns "$CLI" conntrack -F expect >/dev/null 2>&1
[[ -z $(inns "$CLI" conntrack -L expect 2>/dev/null) ]] || bad "expectations left after conntrack -F expect"
lookup && leaked "netbios-ns: an answer came in without the helper" || ok "netbios-ns: without the helper the answer is dropped"
snmp && bad "snmp: an answer came in without the helper" || ok "snmp: without the helper the answer is dropped"
inns "$CLI" nft -f "$W/ctlua-rules.nft" || bad "cannot re-add the ctlua rules"
lookup && ok "netbios-ns: helper re-attached, the answer passes again" || bad "netbios-ns: re-attached, still no answer"
inns "$CLI" ip addr del 192.0.2.1/24 dev v0; inns "$CLI" ip addr add 192.0.2.1/24 dev v0
sleep 1.5  # the daemon's interface cache
lookup && bad "netbios-ns: answered although the address has no broadcast address" \
  || ok "netbios-ns: without brd on the address no interface has the broadcast address, nothing is expected (as in the kernel)"

no_script_failures
finish
