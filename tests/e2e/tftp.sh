#!/usr/bin/env bash
# tftp.sh - end-to-end test of the kernel path with real TFTP traffic.
#
# Runs as root on a kernel with nfnetlink_cthelper and the NFQUEUE conntrack
# glue (inside tests/vm/run.sh on our machines). Topology, all in network
# namespaces this script makes and deletes (the same as ftp.sh):
#
#   cli 192.0.2.1 / 2001:db8:1::1  --  fw (router, ctlua)  --  srv 198.51.100.2 / 2001:db8:2::2
#        outside: fw 192.0.2.254 / 2001:db8:1::fe      inside: fw 198.51.100.254 / 2001:db8:2::fe
#
# The firewall forwards only new UDP flows to port 69 (the requests) and
# RELATED,ESTABLISHED traffic. A TFTP server answers a request from a new
# port, so the data flow passes only if ctlua's TFTP helper
# (scripts/tftp/helper.lua) created the expectation. Real tftpd-hpa server,
# curl (with RFC 2347 options, OACK) and tftp-hpa (no options) clients: read
# (RRQ) and write (WRQ) requests over IPv4 and IPv6 in three set-ups:
#   plain  routing only;
#   snat   the firewall masquerades the clients (the data flow must follow
#          the master's NAT back to the real client);
#   dnat   the server sits behind DNAT: the client talks to the firewall's
#          outside address, which forwards port 69 to the server, and only
#          DNAT'ed requests may open a flow.
# Each transfer must move the exact content, and `conntrack -E expect` must
# show the expectation (server -> client as the server sees it). Controls:
# without the helper attached, and with ctlua stopped, the firewall drops
# the data flow and the transfers fail.
#
#   CTLUA_BIN=path/to/ctlua tests/e2e/tftp.sh
# Exit 0: passed. Output ends with "N passed, M failed".
set -uo pipefail
CTLUA=${CTLUA_BIN:?set CTLUA_BIN to the ctlua binary}
NS=ctt$$
CLI=$NS-cli FW=$NS-fw SRV=$NS-srv NSES="$CLI $FW $SRV"
W=$(mktemp -d /tmp/ctlua-e2e-tftp.XXXXXX)
. "$(dirname "$0")/lib.sh"
for t in ip nft conntrack curl in.tftpd tftp timeout stdbuf; do
  need "$t" "tests/vm/run.sh installs it: tftpd-hpa gives in.tftpd, tftp-hpa gives tftp"
done
need_helper_kernel tftp
topology "$CLI" "$FW" "$SRV"

# --- TFTP server (foreground, both families, uploads allowed) ----------------
mkdir -p "$W/root"; chmod 0777 "$W/root"
head -c 30000 /dev/urandom > "$W/root/r.bin"     # 59 blocks of 512
head -c 20000 /dev/urandom > "$W/up.bin"
inns "$SRV" in.tftpd --foreground --create --permissive --user root --secure "$W/root" >"$W/tftpd.log" 2>&1 &
for _ in $(seq 50); do inns "$SRV" ss -lun | grep -q ':69 ' && break; sleep 0.1; done
inns "$SRV" ss -lun | grep -q '0.0.0.0:69 ' && inns "$SRV" ss -lun | grep -q '\[::\]:69 ' \
  && ok "tftpd-hpa listens on UDP 69 (IPv4 and IPv6)" || { bad "in.tftpd did not start on both families"; inns "$SRV" ss -lun; cat "$W/tftpd.log"; }

# --- ctlua in the firewall -----------------------------------------------------
ctlua_config tftp 4
start_ctlua "$FW"
"$CTLUA" helpers >"$W/helpers.txt" 2>&1
grep -q "tftp.*queue 4" "$W/helpers.txt" && ok "kernel lists helper tftp on queue 4" || { bad "ctlua helpers does not list tftp"; cat "$W/helpers.txt"; }
"$CTLUA" rules --config "$W/ctlua.toml" >"$W/ctlua-rules.nft" 2>&1
if grep -q 'udp dport 69 ct helper set "tftp-ip"' "$W/ctlua-rules.nft" && grep -q 'udp dport 69 ct helper set "tftp-ip6"' "$W/ctlua-rules.nft" \
   && inns "$FW" nft -f "$W/ctlua-rules.nft"; then ok "ctlua rules attach tftp to UDP 69 (ip, ip6) and load"
else bad "ctlua rules for tftp are wrong or do not load"; cat "$W/ctlua-rules.nft"; fi
ip netns exec "$FW" stdbuf -oL conntrack -E expect >"$W/expect.log" 2>&1 &
EVPID=$!  # wait until it has subscribed (its netlink socket), or the first events are lost
for _ in $(seq 100); do ls -l /proc/$EVPID/fd 2>/dev/null | grep -q socket && break; sleep 0.05; done

# firewall MODE: the filter table (forward: drop NEW except requests to the
# server's UDP 69; a named counter counts what the policy drops) and the
# mode's NAT.
firewall() {
  local mode=$1 dn=""
  [[ $mode == dnat ]] && dn="ct status dnat "   # only requests the DNAT rule forwarded
  { cat <<NFT
table inet filter {
	counter dropped { }
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		ip daddr 198.51.100.2 udp dport 69 ct state new ${dn}accept
		ip6 daddr 2001:db8:2::2 udp dport 69 ct state new ${dn}accept
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
		iifname "f0" ip daddr 192.0.2.254 udp dport 69 dnat ip to 198.51.100.2
		iifname "f0" ip6 daddr 2001:db8:1::fe udp dport 69 dnat ip6 to 2001:db8:2::2
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

# xfer NAME HOST OP [CLIENT]: one transfer (OP get = RRQ of r.bin, put = WRQ
# of up.bin as NAME.bin); CLIENT curl (default) or tftp (tftp-hpa).
# Returns 0 when the content arrived intact.
xfer() {
  local name=$1 host=$2 op=$3 client=${4:-curl} url
  url="tftp://$host"; [[ $host == *:* ]] && url="tftp://[$host]"
  rm -f "$W/got-$name"
  case $client/$op in
  curl/get) inns "$CLI" timeout 15 curl -sS --max-time ${TMO:-10} "$url/r.bin" -o "$W/got-$name" >"$W/cli-$name.log" 2>&1 ;;
  curl/put) inns "$CLI" timeout 15 curl -sS --max-time ${TMO:-10} -T "$W/up.bin" "$url/$name.bin" >"$W/cli-$name.log" 2>&1 ;;
  tftp/get) local fam=-4; [[ $host == *:* ]] && fam=-6
            (cd "$W" && inns "$CLI" timeout ${TMO:-10} tftp $fam "$host" -m binary -c get r.bin "got-$name") >"$W/cli-$name.log" 2>&1 ;;
  esac
  case $op in
  get) cmp -s "$W/got-$name" "$W/root/r.bin" ;;
  put) cmp -s "$W/root/$name.bin" "$W/up.bin" ;;
  esac
}

# saw_expect FROM SRC DST: a NEW expectation event after line FROM of
# expect.log, from SRC to DST (the data flow as the server sees it), UDP.
saw_expect() {
  local from=$1 src=$2 dst=$3
  for _ in $(seq 20); do
    tail -n +"$((from+1))" "$W/expect.log" | grep NEW | grep -q "proto=17 src=$src dst=$dst " && return 0
    sleep 0.1
  done
  return 1
}

debug() {
  [[ -n ${debugged:-} ]] && return; debugged=1
  echo "--- debug ($1): client"; cat "$W/cli-$1.log" 2>/dev/null | tail -5
  echo "--- debug: queues"; inns "$FW" cat /proc/net/netfilter/nfnetlink_queue
  echo "--- debug: expectations"; inns "$FW" conntrack -L expect 2>&1
  echo "--- debug: conntrack"; inns "$FW" conntrack -L -p udp 2>&1 | head
  echo "--- debug: expect events"; tail -5 "$W/expect.log"
  echo "--- debug: ctlua"; tail -20 "$W/ctlua.log"
}

# --- transfers in each set-up -------------------------------------------------
C4=192.0.2.1 C6=2001:db8:1::1 S4=198.51.100.2 S6=2001:db8:2::2
for mode in plain snat dnat; do
  firewall "$mode" || continue
  h4=$S4 h6=$S6 c4=$C4 c6=$C6              # what the client dials; the client as the server sees it
  case $mode in
  snat) c4=198.51.100.254 c6=2001:db8:2::fe ;;
  dnat) h4=192.0.2.254 h6=2001:db8:1::fe ;;
  esac
  for t in "rrq-ipv4|$h4|get|curl|$S4|$c4" "wrq-ipv4|$h4|put|curl|$S4|$c4" \
           "rrq-ipv6|$h6|get|curl|$S6|$c6" "wrq-ipv6|$h6|put|curl|$S6|$c6" \
           "rrq-ipv4-tftp-hpa|$h4|get|tftp|$S4|$c4" "rrq-ipv6-tftp-hpa|$h6|get|tftp|$S6|$c6"; do
    IFS='|' read -r name host op client esrc edst <<<"$t"
    name=$mode-$name
    from=$(wc -l <"$W/expect.log") t0=$(date +%s%N)
    if xfer "$name" "$host" "$op" "$client"; then
      ms=$((($(date +%s%N)-t0)/1000000))
      if saw_expect "$from" "$esrc" "$edst"; then ok "$name: content intact through the dropping firewall, expectation $esrc -> $edst (${ms} ms)"
      else bad "$name: transferred, but conntrack -E expect saw no expectation $esrc -> $edst"; tail -n +"$((from+1))" "$W/expect.log"; fi
    else
      bad "$name: $op via $client to $host failed"; debug "$name"
    fi
  done
done
echo "--- one expectation event as conntrack printed it:"; grep -m1 NEW "$W/expect.log"

# --- controls: the data flow is dropped without the helper ---------------------
# NAME MODE HOST OP: the transfer must fail and the firewall must have
# dropped packets (the server answered, so the request got through).
must_fail() {
  local name=$1 mode=$2 host=$3 op=$4 why=$5 d0
  firewall "$mode" || return
  d0=$(dropped); echo "--- $name at ${SECONDS}s"
  if TMO=3 xfer "$name" "$host" "$op"; then bad "$name: the transfer passed $why: the data flow was not the helper's"; return; fi
  # Under load (TCG, two cores shared) the server may answer after the
  # client gave up: wait up to 5 s for the drop.
  for _ in $(seq 50); do (( $(dropped) > ${d0:-0} )) && break; sleep 0.1; done
  if (( $(dropped) > ${d0:-0} )); then ok "$name: $why the transfer fails, the firewall dropped the server's data flow"
  else bad "$name: failed $why, but the firewall dropped nothing (the request itself did not get through?)"; fi
}
inns "$FW" nft delete table inet ctlua
must_fail nohelper-rrq-ipv4 plain $S4 get "with the helper not attached (no ct helper rules)"
inns "$FW" nft -f "$W/ctlua-rules.nft" || bad "cannot re-add the ctlua rules"
TMO=10 xfer reattached-rrq-ipv4 $S4 get && ok "helper re-attached: transfer passes again" || bad "helper re-attached, transfer still fails"

kill -TERM "$CTPID"; wait "$CTPID"; rc=$?; CTPID=
(( rc == 0 )) && ok "ctlua exited 0 on SIGTERM" || bad "ctlua exit status $rc"
grep -q "leaving kernel helper registered" "$W/ctlua.log" && ok "exit logged the helper left without reader" || bad "no exit log for the kept helper"
must_fail stopped-plain-rrq-ipv4 plain $S4 get "with ctlua stopped"
must_fail stopped-snat-wrq-ipv6 snat $S6 put "with ctlua stopped"
must_fail stopped-dnat-rrq-ipv4 dnat 192.0.2.254 get "with ctlua stopped"

no_script_failures
echo "--- ctlua log"; tail -8 "$W/ctlua.log"
finish
