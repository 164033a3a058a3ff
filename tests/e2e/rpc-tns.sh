#!/usr/bin/env bash
# rpc-tns.sh - end-to-end test of the RPC and TNS helpers (scripts/rpc,
# scripts/tns: conntrackd's ct_helper_rpc and ct_helper_tns in Lua) on the
# kernel path, through a firewall that drops what no expectation covers.
#
# Runs as root on a kernel with nfnetlink_cthelper (inside tests/vm/run.sh
# on our machines). Topology (lib.sh): cli 192.0.2.1 / 2001:db8:1::1 -- fw
# (router, ctlua) -- srv 198.51.100.2 / 2001:db8:2::2. The firewall
# forwards new connections only to RPC's port 111 (TCP, UDP) and TNS's
# 1521, and RELATED,ESTABLISHED traffic (rpc-tns-lib.sh). Servers on srv:
# the real rpcbind and rpc.statd (nfs-common), scripted TNS listeners
# (tns.py). Flows from cli, each passing only through an expectation:
#
#   rpc   sm-notify (portmapper v2 GETPORT over UDP, then SM_NOTIFY to
#         statd), pmap.py (GETPORT over TCP with record marking, then a
#         NULL call to statd over TCP), rpcinfo -T udp|tcp|udp6|tcp6
#         (rpcbind v4 GETADDR, then a NULL call to statd)
#   tns   a REDIRECT with the address, a REDIRECT followed by a DATA packet
#         with the address, over IPv4, and a REDIRECT over IPv6
#
# Then with the server behind DNAT (the client asks the firewall's
# 192.0.2.254): GETPORT over TCP, GETADDR over TCP (the universal address
# is rewritten) and a TNS redirect (HOST and PORT rewritten); the data
# connections follow the master's NAT to the server. Controls: without
# the helpers (ctlua stopped, its kernel helpers deleted) a GETPORT, a
# GETADDR and a TNS redirect flow fail.
#
# Needs rpcbind, nfs-common (rpc.statd, sm-notify), python3, nft, conntrack.
#   CTLUA_BIN=path/to/ctlua tests/e2e/rpc-tns.sh
# Exit 0: passed. Output ends with "N passed, M failed".
set -uo pipefail
CTLUA=${CTLUA_BIN:?set CTLUA_BIN to the ctlua binary}
NS=ctr$$
CLI=$NS-cli FW=$NS-fw SRV=$NS-srv NSES="$CLI $FW $SRV"
W=$(mktemp -d /tmp/ctlua-e2e-rpctns.XXXXXX)
. "$(dirname "$0")/lib.sh"
. "$E2E/rpc-tns-lib.sh"
for t in ip nft conntrack rpcbind rpc.statd sm-notify rpcinfo $PY timeout unshare; do
  need "$t" "apt-get install rpcbind nfs-common python3 nftables conntrack"
done
for h in rpc tns; do need_helper_kernel $h; done
topology "$CLI" "$FW" "$SRV"

{ echo '[daemon]'; echo 'budget = "1s"'; echo 'log_level = "debug"'; q=6
  for h in rpc tns; do
    cp "$E2E/../../scripts/$h/helper.lua" "$W/$h.lua"
    printf '[[helper]]\nscript = "%s"\nqueue = %d\n' "$W/$h.lua" $q; q=$((q + 1))
  done; } >"$W/ctlua.toml"
start_ctlua "$FW"
"$CTLUA" rules --config "$W/ctlua.toml" >"$W/ctlua-rules.nft" 2>&1
grep -q 'udp dport 111 ct helper set "rpc-udp-ip"' "$W/ctlua-rules.nft" && grep -q 'tcp dport 111 ct helper set "rpc-tcp-ip6"' "$W/ctlua-rules.nft" \
  && grep -q 'tcp dport 1521 ct helper set "tns-ip"' "$W/ctlua-rules.nft" \
  && ok "ctlua rules attach rpc over TCP and UDP and tns" || { bad "ctlua rules are wrong"; cat "$W/ctlua-rules.nft"; }
inns "$FW" "$CTLUA" helpers 2>&1 | grep -c '^rpc ' | grep -qx 4 && ok "ctlua registered 4 kernel helpers rpc (tcp, udp; ipv4, ipv6)" \
  || { bad "not 4 kernel helpers rpc"; inns "$FW" "$CTLUA" helpers; }

rpc_tns_servers && ok "rpcbind, rpc.statd and the TNS listeners are up" \
  || { bad "the servers did not start"; tail -5 "$W/rpc-servers.log" "$W/tns4.log" "$W/tns6.log"; finish; }
ip netns exec "$FW" stdbuf -oL conntrack -E expect >"$W/expect.log" 2>&1 &
for _ in $(seq 100); do ls -l /proc/$!/fd 2>/dev/null | grep -q socket && break; sleep 0.05; done
news() { grep -c NEW "$W/expect.log"; }

# scenario NAME FLOW...: the flow passes, through a new expectation.
scenario() {
  local name=$1 n0; shift
  n0=$(news)
  if "$@"; then ok "$name: the data connection passed the dropping firewall ($(( $(news) - n0 )) new expectations)"
  else
    bad "$name: the flow failed"; tail -5 "$W/flow.log"
    echo "--- expectations"; tail -n +$((n0 + 1)) "$W/expect.log" | tail -4
    echo "--- ctlua"; grep -E 'level=(WARN|ERROR)|expect' "$W/ctlua.log" | tail -6
  fi
}
rpc_tns_firewall || bad "nft rejected the firewall rules"
for s in "${SCENARIOS[@]}"; do
  inns "$FW" conntrack -F expect >/dev/null 2>&1  # each flow needs its own expectation
  read -ra flow <<<"${s#*|}"
  scenario "${s%%|*}" "${flow[@]}"
done

# --- the server behind DNAT ----------------------------------------------------------
rpc_tns_firewall dnat || bad "nft rejected the DNAT rules"
scenario "rpc-tcp-getport, server behind DNAT" flow_pmap 192.0.2.254
scenario "rpc-tcp-getaddr, server behind DNAT" flow_rpcinfo tcp 192.0.2.254
grep -q "ready and waiting" "$W/flow.log" && grep NEW "$W/expect.log" | tail -1 | grep -q "dst=192.0.2.254 " \
  && ok "rpc DNAT: the expectation is for the address the client used" || { bad "rpc DNAT: no expectation for 192.0.2.254"; tail -2 "$W/expect.log"; }
scenario "tns-redirect, listener behind DNAT" flow_tns 192.0.2.254
grep -q "^ok 192.0.2.254 " "$W/flow.log" && ok "tns DNAT: the client was redirected to the firewall's address" \
  || { bad "tns DNAT: the redirect was not rewritten"; cat "$W/flow.log"; }

# --- controls: without the helpers the same flows fail -------------------------------
rpc_tns_firewall
no_script_failures
inns "$FW" nft delete table inet rpctns  # its ct helper objects hold the kernel helpers
kill "$CTPID" 2>/dev/null; wait "$CTPID" 2>/dev/null; CTPID=
inns "$FW" nft -f "$W/rpctns.nft" 2>/dev/null \
  && bad "the firewall loaded with the helpers gone" || ok "ctlua stopped: its kernel helpers are gone"
sed -i '/ct helper/d' "$W/rpctns.nft"; inns "$FW" nft -f "$W/rpctns.nft" || bad "nft rejected the rules without helpers"
export FLOW_TIMEOUT=8  # each control waits this long for its client to give up
flow_pmap 198.51.100.2 && bad "rpc-tcp-getport passed without the helper" || ok "rpc-tcp-getport: without the helper the connection to statd is dropped"
flow_sm_notify 198.51.100.2 && bad "rpc-udp-getport passed without the helper" || ok "rpc-udp-getport: without the helper SM_NOTIFY is dropped"
flow_tns 198.51.100.2 && bad "tns-redirect passed without the helper" || ok "tns-redirect: without the helper the redirected connection is dropped"
finish
