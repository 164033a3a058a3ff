#!/usr/bin/env bash
# sip.sh - end-to-end test of the kernel path with SIP calls and RTP.
#
# Runs as root on a kernel with nfnetlink_cthelper and the NFQUEUE conntrack
# glue (inside tests/vm/run.sh on our machines), and without the kernel's
# nf_conntrack_sip loaded (it would own the helper name). Topology, in
# network namespaces this script makes and deletes (the same as ftp.sh):
#
#   cli 192.0.2.1 / 2001:db8:1::1  --  fw (router, ctlua)  --  srv 198.51.100.2 / 2001:db8:2::2
#   ("alice")                                                  ("bob", registrar)
#
# The firewall forwards only new UDP flows to the server's port 5060 and
# RELATED,ESTABLISHED traffic. tests/oracle/sipua.py plays both user
# agents with real SIP and SDP over UDP: alice registers (contact port
# 5070), calls bob, media flows both ways (RTP and RTCP, each flow a new
# connection through the firewall), a re-INVITE puts the call on hold with
# new media ports, media again, BYE; then bob calls alice at her
# registered contact (a new connection from the server side) and media
# flows again. Every one of those new flows passes only through an
# expectation ctlua's SIP helper (scripts/sip/helper.lua) created: alice
# checks that bob's media and his call arrived, the firewall's drop counter
# checks that none of alice's media was dropped, and `conntrack -E expect`
# must show the helper's expectations. IPv4 and IPv6. Controls: without
# the helper attached, and with ctlua stopped, the call fails and the
# firewall drops the media. NAT is not tested: the helper does not do
# nf_nat_sip's rewriting (scripts/sip/README.md, Limits).
#
#   CTLUA_BIN=path/to/ctlua tests/e2e/sip.sh
# Exit 0: passed. Output ends with "N passed, M failed".
set -uo pipefail
CTLUA=${CTLUA_BIN:?set CTLUA_BIN to the ctlua binary}
NS=cts$$
CLI=$NS-cli FW=$NS-fw SRV=$NS-srv NSES="$CLI $FW $SRV"
W=$(mktemp -d /tmp/ctlua-e2e-sip.XXXXXX)
. "$(dirname "$0")/lib.sh"
UA=$E2E/../oracle/sipua.py
for t in ip nft conntrack python3 timeout stdbuf; do need "$t"; done
need_helper_kernel sip
topology "$CLI" "$FW" "$SRV"

# --- ctlua in the firewall -----------------------------------------------------
ctlua_config sip 5
start_ctlua "$FW"
"$CTLUA" helpers >"$W/helpers.txt" 2>&1
grep -q "sip.*queue 5" "$W/helpers.txt" && ok "kernel lists helper sip on queue 5" || { bad "ctlua helpers does not list sip"; cat "$W/helpers.txt"; }
"$CTLUA" rules --config "$W/ctlua.toml" >"$W/ctlua-rules.nft" 2>&1
if grep -q 'udp dport 5060 ct helper set "sip-ip"' "$W/ctlua-rules.nft" && grep -q 'udp dport 5060 ct helper set "sip-ip6"' "$W/ctlua-rules.nft" \
   && inns "$FW" nft -f "$W/ctlua-rules.nft"; then ok "ctlua rules attach sip to UDP 5060 (ip, ip6) and load"
else bad "ctlua rules for sip are wrong or do not load"; cat "$W/ctlua-rules.nft"; fi
ip netns exec "$FW" stdbuf -oL conntrack -E expect >"$W/expect.log" 2>&1 &
EVPID=$!
for _ in $(seq 100); do ls -l /proc/$EVPID/fd 2>/dev/null | grep -q socket && break; sleep 0.05; done

# firewall: forward drops NEW except SIP requests to the server; a named
# counter counts what the policy drops.
firewall() {
  cat >"$W/fw.nft" <<'NFT'
table inet filter {
	counter dropped { }
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		ip daddr 198.51.100.2 udp dport 5060 ct state new accept
		ip6 daddr 2001:db8:2::2 udp dport 5060 ct state new accept
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
		counter name "dropped"
	}
}
NFT
  inns "$FW" nft delete table inet filter 2>/dev/null
  inns "$FW" conntrack -F >/dev/null 2>&1; inns "$FW" conntrack -F expect >/dev/null 2>&1
  inns "$FW" nft -f "$W/fw.nft" || { bad "nft rejected the firewall rules"; cat "$W/fw.nft"; return 1; }
}
dropped() { inns "$FW" nft list counter inet filter dropped 2>/dev/null | awk '/packets/ { print $2; exit }'; }

# call NAME CLIENT SERVER [TIMEOUT]: one session of sipua.py (server in
# srv, client in cli); 0 when the client got all media and the call.
call() {
  local name=$1 c=$2 s=$3 tmo=${4:-5}
  inns "$SRV" env SIPUA_TIMEOUT=$tmo timeout 40 python3 "$UA" server "$s" "$c" >"$W/srv-$name.log" 2>&1 &
  local sp=$!
  sleep 0.5
  inns "$CLI" env SIPUA_TIMEOUT=$tmo timeout 40 python3 "$UA" client "$c" "$s" >"$W/cli-$name.log" 2>&1
  local rc=$?
  wait $sp || rc=1
  return $rc
}

# saw_expect FROM SRC DST DPORT: a NEW expectation event after line FROM.
saw_expect() {
  local from=$1 src=$2 dst=$3 dport=$4
  tail -n +"$((from+1))" "$W/expect.log" | grep NEW | grep -q "proto=17 src=$src dst=$dst sport=0 dport=$dport "
}

debug() {
  echo "--- debug ($1): client"; tail -5 "$W/cli-$1.log"; echo "--- server"; tail -5 "$W/srv-$1.log"
  echo "--- debug: expectations"; inns "$FW" conntrack -L expect 2>&1 | head
  echo "--- debug: expect events"; tail -8 "$W/expect.log"
  echo "--- debug: ctlua"; tail -20 "$W/ctlua.log"
}

C4=192.0.2.1 C6=2001:db8:1::1 S4=198.51.100.2 S6=2001:db8:2::2
firewall
for t in "ipv4|$C4|$S4" "ipv6|$C6|$S6"; do
  IFS='|' read -r fam c s <<<"$t"
  from=$(wc -l <"$W/expect.log") d0=$(dropped) t0=$(date +%s%N)
  if call "$fam" "$c" "$s"; then
    ms=$((($(date +%s%N)-t0)/1000000))
    ok "$fam: registration, call, hold, hang-up and incoming call with media both ways through the dropping firewall (${ms} ms)"
  else
    bad "$fam: the call failed through the firewall"; debug "$fam"
  fi
  (( $(dropped) == ${d0:-0} )) && ok "$fam: the firewall dropped none of the media" || bad "$fam: the firewall dropped $(( $(dropped) - ${d0:-0} )) packets"
  sleep 0.3
  missing=""
  for e in "$s $c 5070" "$s $c 40000" "$s $c 40001" "$c $s 30000" "$c $s 30001" "$s $c 40100" "$c $s 30100" \
           "$c $s 30200" "$s $c 40200"; do
    saw_expect "$from" $e || missing+=" [$e]"
  done
  [[ -z $missing ]] && ok "$fam: conntrack -E expect shows the registration's, the calls' RTP and RTCP expectations" \
    || { bad "$fam: expectations missing:$missing"; tail -n +"$((from+1))" "$W/expect.log" | head -20; }
done
echo "--- one expectation event as conntrack printed it:"; grep -m1 NEW "$W/expect.log"

# --- controls: the media is dropped without the helper ------------------------
must_fail() {
  local name=$1 c=$2 s=$3 why=$4 d0
  firewall || return
  d0=$(dropped)
  if call "$name" "$c" "$s" 2; then bad "$name: the call passed $why: the media was not the helper's"
  elif (( $(dropped) > ${d0:-0} )); then ok "$name: $why the call fails, the firewall dropped the media"
  else bad "$name: failed $why, but the firewall dropped nothing"; debug "$name"; fi
}
inns "$FW" nft delete table inet ctlua
must_fail nohelper-ipv4 $C4 $S4 "with the helper not attached (no ct helper rules)"
inns "$FW" nft -f "$W/ctlua-rules.nft" || bad "cannot re-add the ctlua rules"
firewall && call reattached-ipv6 $C6 $S6 && ok "helper re-attached: the IPv6 call passes again" || bad "helper re-attached, the call still fails"

kill -TERM "$CTPID"; wait "$CTPID"; rc=$?; CTPID=
(( rc == 0 )) && ok "ctlua exited 0 on SIGTERM" || bad "ctlua exit status $rc"
must_fail stopped-ipv4 $C4 $S4 "with ctlua stopped"
must_fail stopped-ipv6 $C6 $S6 "with ctlua stopped"

no_script_failures
echo "--- ctlua log"; tail -8 "$W/ctlua.log"
finish
