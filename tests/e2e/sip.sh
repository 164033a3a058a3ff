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
# must show the helper's expectations. IPv4 and IPv6, in three set-ups:
#   plain  routing only;
#   snat   the firewall masquerades alice: bob must see only the
#          masquerade address in her SIP and SDP (Contact, Via, o=, c=),
#          and his media and his call reach her through expectations that
#          follow the master's NAT back;
#   dnat   bob sits behind DNAT: alice calls the firewall's outside
#          address and must see only that address in his answers.
# Controls: without the helper attached, and with ctlua stopped, the call
# fails and the firewall drops the media.
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

# firewall MODE: forward drops NEW except SIP requests to the server (in
# dnat mode only those the DNAT rule forwarded); a named counter counts
# what the policy drops. snat masquerades the clients, dnat forwards the
# firewall's outside address, port 5060, to the server.
firewall() {
  local mode=$1 dn=""
  [[ $mode == dnat ]] && dn="ct status dnat "
  { cat <<NFT
table inet filter {
	counter dropped { }
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		ip daddr 198.51.100.2 udp dport 5060 ct state new ${dn}accept
		ip6 daddr 2001:db8:2::2 udp dport 5060 ct state new ${dn}accept
		counter name "dropped"
	}
}
NFT
  case $mode in
  snat) cat <<'NFT'
table inet nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "f1" masquerade
	}
}
NFT
  ;;
  dnat) cat <<'NFT'
table inet nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "f0" ip daddr 192.0.2.254 udp dport 5060 dnat ip to 198.51.100.2
		iifname "f0" ip6 daddr 2001:db8:1::fe udp dport 5060 dnat ip6 to 2001:db8:2::2
	}
}
NFT
  ;;
  esac; } >"$W/fw-$mode.nft"
  inns "$FW" nft delete table inet filter 2>/dev/null; inns "$FW" nft delete table inet nat 2>/dev/null
  inns "$FW" conntrack -F >/dev/null 2>&1; inns "$FW" conntrack -F expect >/dev/null 2>&1
  inns "$FW" nft -f "$W/fw-$mode.nft" || { bad "$mode: nft rejected the firewall rules"; cat "$W/fw-$mode.nft"; return 1; }
}
dropped() { inns "$FW" nft list counter inet filter dropped 2>/dev/null | awk '/packets/ { print $2; exit }'; }

# call NAME CLIENT DIAL SERVER [TIMEOUT]: one session of sipua.py (server
# in srv on SERVER, client in cli on CLIENT dialling DIAL); 0 when the
# client got all media and the call. Each side logs what it received to
# $W/{cli,srv}-NAME.sip.
call() {
  local name=$1 c=$2 dial=$3 s=$4 tmo=${5:-15}  # TCG with another VM on the host: seconds per message
  inns "$SRV" env SIPUA_TIMEOUT=$tmo SIPUA_LOG="$W/srv-$name.sip" timeout 300 python3 "$UA" server "$s" "$c" >"$W/srv-$name.log" 2>&1 &
  local sp=$!
  inns "$FW" timeout 60 tcpdump -i any -n -U -w "$W/fw-$name.pcap" udp port 5060 2>/dev/null &
  # python starts slowly under TCG (a whole call takes up to a minute with
  # other VMs on the host): the server must listen before the first REGISTER
  local t0=$SECONDS
  while (( SECONDS - t0 < 120 )); do inns "$SRV" ss -lun | grep -q ":5060 " && break; sleep 0.2; done
  inns "$CLI" env SIPUA_TIMEOUT=$tmo SIPUA_LOG="$W/cli-$name.sip" timeout 300 python3 "$UA" client "$c" "$dial" >"$W/cli-$name.log" 2>&1
  local rc=$?
  (( rc == 0 )) || kill $sp 2>/dev/null  # a failed client leaves the server waiting
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
  echo "--- debug: SIP on the firewall's interfaces"; tcpdump -r "$W/fw-$1.pcap" -n 2>/dev/null | head -12
  echo "--- debug: the server's UDP counters"; inns "$SRV" nstat -az 2>/dev/null | grep -E "Udp6?(InDatagrams|NoPorts|InErrors|InCsumErrors)"
  echo "--- debug: the server's sockets"; inns "$SRV" ss -lunp 2>/dev/null
  echo "--- debug: start lines the client received"; grep -aE "^(SIP/2.0|[A-Z]+ sip:)" "$W/cli-$1.sip" 2>/dev/null | tail -5
  echo "--- debug: start lines the server received"; grep -aE "^(SIP/2.0|[A-Z]+ sip:)" "$W/srv-$1.sip" 2>/dev/null | tail -5
  echo "--- debug: expectations"; inns "$FW" conntrack -L expect 2>&1 | head
  echo "--- debug: expect events"; tail -8 "$W/expect.log"
  echo "--- debug: ctlua"; tail -20 "$W/ctlua.log"
}

C4=192.0.2.1 C6=2001:db8:1::1 S4=198.51.100.2 S6=2001:db8:2::2
for mode in plain snat dnat; do
  firewall "$mode" || continue
  for fam in ipv4 ipv6; do
    c=$C4 s=$S4 dial=$S4 out=192.0.2.254 in=198.51.100.254
    [[ $fam == ipv6 ]] && c=$C6 s=$S6 dial=$S6 out=2001:db8:1::fe in=2001:db8:2::fe
    [[ $mode == dnat ]] && dial=$out
    name=$mode-$fam
    from=$(wc -l <"$W/expect.log") d0=$(dropped) t0=$(date +%s%N)
    if call "$name" "$c" "$dial" "$s"; then
      ms=$((($(date +%s%N)-t0)/1000000))
      ok "$name: registration, call, hold, hang-up and incoming call with media both ways through the dropping firewall (${ms} ms)"
    else
      bad "$name: the call failed through the firewall"; debug "$name"
    fi
    (( $(dropped) == ${d0:-0} )) && ok "$name: the firewall dropped none of the media" || bad "$name: the firewall dropped $(( $(dropped) - ${d0:-0} )) packets"
    sleep 0.3
    # what the registration and the first call expect, as the firewall sees it
    case $mode in
    plain) want="$s $c 5070|$s $c 40000|$s $c 40001|$c $s 30000|$c $s 30001|$s $c 40100|$c $s 30100|$c $s 30200|$s $c 40200" ;;
    snat)  want="$s $in 5070|$s $in 40000|$s $in 40001|$c $s 30000|$c $s 30001" ;;
    dnat)  want="$s $c 5070|$s $c 40000|$s $c 40001|$c $out 30000|$c $out 30001" ;;
    esac
    missing=""
    IFS='|' read -ra wants <<<"$want"
    for e in "${wants[@]}"; do saw_expect "$from" $e || missing+=" [$e]"; done
    [[ -z $missing ]] && ok "$name: conntrack -E expect shows the registration's and the calls' RTP and RTCP expectations" \
      || { bad "$name: expectations missing:$missing"; tail -n +"$((from+1))" "$W/expect.log" | head -20; }
    # the kernel took the classes: signalling 0, audio 1
    if [[ $mode == plain ]]; then
      if tail -n +"$((from+1))" "$W/expect.log" | grep NEW | grep "dport=40000 " | grep -q "class=1" \
         && tail -n +"$((from+1))" "$W/expect.log" | grep NEW | grep "dport=5070 " | grep -q "class=0"; then
        ok "$name: the kernel holds the media as class 1 (audio), the registration as class 0 (signalling)"
      else bad "$name: wrong expectation classes"; tail -n +"$((from+1))" "$W/expect.log" | grep -E "dport=(40000|5070) "; fi
      [[ $fam == ipv4 ]] && { echo "--- conntrack after the ipv4 call:"; inns "$FW" conntrack -L -p udp 2>/dev/null | head -20; }
    fi
    # the rewritten SIP and SDP, as each side saw it
    hc=$c hs=$s
    [[ $fam == ipv6 ]] && hc="[$c]" hs="[$s]"
    case $mode in
    snat)
      if grep -q "c=IN IP[46] $in" "$W/srv-$name.sip" && grep -q "Contact: <sip:alice@$( [[ $fam == ipv6 ]] && echo "\[$in\]" || echo "$in"):5070>" "$W/srv-$name.sip" \
         && ! grep -E "^(Contact|Via|c=|o=)" "$W/srv-$name.sip" | grep -qF "$c"; then
        ok "$name: bob saw alice's SDP, Contact and Via at the masquerade address, never her inside address $c"
      else bad "$name: bob saw alice's inside address or no rewritten SDP/Contact"; grep -nE "$c|^c=|Contact" "$W/srv-$name.sip" | head; fi
      if grep -qF "INVITE sip:alice@$hc:5070 " "$W/cli-$name.sip" && grep -E "^Via:" "$W/cli-$name.sip" | grep -qF "$hc:5062" \
         && ! grep -E "^(INVITE|Via:)" "$W/cli-$name.sip" | grep -qF "$in"; then
        ok "$name: alice saw the responses' Via and bob's incoming call at her inside address, never the masquerade address"
      else bad "$name: alice saw the masquerade address in Via or the incoming call's URI"; grep -nE "^(INVITE|Via:)" "$W/cli-$name.sip" | head; fi ;;
    dnat)
      if grep -q "c=IN IP[46] $out" "$W/cli-$name.sip" && ! grep -E "^(Contact|Via|c=|o=)" "$W/cli-$name.sip" | grep -qF "$s"; then
        ok "$name: alice saw bob's SDP, Contact and Via at the firewall's address, never his real address $s"
      else bad "$name: alice saw bob's real address or no rewritten SDP"; grep -nE "$s|^c=|Contact" "$W/cli-$name.sip" | head; fi
      if grep -qF "INVITE sip:bob@$hs:5060 " "$W/srv-$name.sip" && ! grep -E "^(INVITE|BYE|To:)" "$W/srv-$name.sip" | grep -qF "$out"; then
        ok "$name: bob saw the request URI and To at his real address, never the firewall's"
      else bad "$name: bob saw the firewall's address in a request URI or To"; grep -nE "^(INVITE|BYE|To:)" "$W/srv-$name.sip" | head; fi ;;
    esac
  done
done
echo "--- one expectation event as conntrack printed it:"; grep -m1 NEW "$W/expect.log"

# --- controls: the media is dropped without the helper ------------------------
must_fail() {
  local name=$1 c=$2 s=$3 why=$4 d0
  firewall plain || return
  d0=$(dropped)
  if call "$name" "$c" "$s" "$s" 2; then bad "$name: the call passed $why: the media was not the helper's"
  elif (( $(dropped) > ${d0:-0} )); then ok "$name: $why the call fails, the firewall dropped the media"
  else bad "$name: failed $why, but the firewall dropped nothing"; debug "$name"; fi
}
inns "$FW" nft delete table inet ctlua
must_fail nohelper-ipv4 $C4 $S4 "with the helper not attached (no ct helper rules)"
inns "$FW" nft -f "$W/ctlua-rules.nft" || bad "cannot re-add the ctlua rules"
firewall plain && call reattached-ipv6 $C6 $S6 $S6 && ok "helper re-attached: the IPv6 call passes again" || bad "helper re-attached, the call still fails"

kill -TERM "$CTPID"; wait "$CTPID"; rc=$?; CTPID=
(( rc == 0 )) && ok "ctlua exited 0 on SIGTERM" || bad "ctlua exit status $rc"
must_fail stopped-ipv4 $C4 $S4 "with ctlua stopped"
must_fail stopped-ipv6 $C6 $S6 "with ctlua stopped"

no_script_failures
echo "--- ctlua log"; tail -8 "$W/ctlua.log"
finish
