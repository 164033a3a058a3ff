#!/usr/bin/env bash
# kernel-twins.sh - end-to-end test of the IRC, SANE and Amanda helpers
# (scripts/irc, scripts/sane, scripts/amanda) on the kernel path, with real
# traffic through a firewall that drops what no expectation covers.
#
# Runs as root on a kernel with nfnetlink_cthelper (inside tests/vm/run.sh
# on our machines). Topology (lib.sh): cli 192.0.2.1 -- fw (router, ctlua)
# -- srv 198.51.100.2. The firewall forwards new connections only to the
# control ports (TCP 6667, TCP 6566, UDP 10080) and RELATED,ESTABLISHED
# traffic; ctlua runs the three helpers, attached by `ctlua rules`.
#
#   irc     ngircd on srv; alice (cli) offers files by DCC SEND to bob
#           (srv) through it; bob connects back to cli, srv -> cli: a new
#           connection only an expectation lets through. Plain, and with
#           cli masqueraded (the helper rewrites the offer to the
#           firewall's address and the DCC connection follows the
#           master's NAT back to alice).
#   sane    saned with the test backend on srv, scanimage on cli: each
#           image comes on a new connection to saned's data port.
#   amanda  a scripted backup server on cli asks the client on srv
#           (UDP 10080) for a backup and connects to the TCP ports of its
#           CONNECT reply. Plain, and with the client behind DNAT (the
#           helper hunts and rewrites the ports, the streams follow the
#           master's NAT). SANE also with scanimage masqueraded.
#
# Controls: with the ctlua rules removed, every data connection fails.
# Needs ngircd, sane-utils + libsane1 (saned, scanimage, the test backend)
# and python3 (tests/oracle/ircdcc.py, tests/oracle/amanda.py).
#
#   CTLUA_BIN=path/to/ctlua tests/e2e/kernel-twins.sh
# Exit 0: passed. Output ends with "N passed, M failed".
set -uo pipefail
CTLUA=${CTLUA_BIN:?set CTLUA_BIN to the ctlua binary}
NS=ctk$$
CLI=$NS-cli FW=$NS-fw SRV=$NS-srv NSES="$CLI $FW $SRV"
W=$(mktemp -d /tmp/ctlua-e2e-twins.XXXXXX)
. "$(dirname "$0")/lib.sh"
ORACLE=$(cd "$E2E/../oracle" && pwd)
PY=/usr/bin/python3
for t in ip nft conntrack ngircd saned scanimage $PY timeout; do
  need "$t" "apt-get install ngircd sane-utils libsane1 python3"
done
for h in irc sane amanda; do need_helper_kernel $h; done
topology "$CLI" "$FW" "$SRV"

# --- ctlua with the three helpers ----------------------------------------------
q=4
{ echo '[daemon]'; echo 'budget = "1s"'; echo 'log_level = "debug"'
  for h in irc sane amanda; do
    cp "$E2E/../../scripts/$h/helper.lua" "$W/$h.lua"
    printf '[[helper]]\nscript = "%s"\nqueue = %d\n' "$W/$h.lua" $q; q=$((q + 1))
  done; } >"$W/ctlua.toml"
start_ctlua "$FW"
"$CTLUA" rules --config "$W/ctlua.toml" >"$W/ctlua-rules.nft" 2>&1
grep -q 'tcp dport 6667 ct helper set "irc-ip"' "$W/ctlua-rules.nft" && grep -q 'tcp dport 6566 ct helper set "sane-ip"' "$W/ctlua-rules.nft" \
  && grep -q 'udp dport 10080 ct helper set "amanda-ip"' "$W/ctlua-rules.nft" && inns "$FW" nft -f "$W/ctlua-rules.nft" \
  && ok "ctlua rules attach irc, sane and amanda and load" || { bad "ctlua rules are wrong or do not load"; cat "$W/ctlua-rules.nft"; }

# firewall MODE: forward only new control connections (plain), and with
# MODE snat masquerade the clients.
firewall() {
  { cat <<'NFT'
table inet filter {
	counter dropped { }
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		ip daddr 198.51.100.2 tcp dport { 6667, 6566 } ct state new accept
		ip daddr 198.51.100.2 udp dport 10080 ct state new accept
		counter name "dropped"
	}
}
NFT
  [[ $1 == snat ]] && cat <<'NFT'
table inet nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "f1" masquerade
	}
}
NFT
  [[ $1 == dnat ]] && cat <<'NFT'
table inet nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "f0" ip daddr 192.0.2.254 udp dport 10080 dnat ip to 198.51.100.2
	}
}
NFT
  } >"$W/fw-$1.nft"
  inns "$FW" nft delete table inet filter 2>/dev/null; inns "$FW" nft delete table inet nat 2>/dev/null
  inns "$FW" conntrack -F >/dev/null 2>&1; inns "$FW" conntrack -F expect >/dev/null 2>&1
  inns "$FW" nft -f "$W/fw-$1.nft" || bad "$1: nft rejected the firewall rules"
}

# --- servers -------------------------------------------------------------------
cat >"$W/ngircd.conf" <<CONF
[Global]
	Name = irc.example.net
	Info = ctlua e2e
	Listen = 198.51.100.2
	Ports = 6667
	PidFile = $W/ngircd.pid
	MotdPhrase = ctlua
[Limits]
	MaxConnectionsIP = 0
[Options]
	PAM = no
	DNS = no
	Ident = no
CONF
inns "$SRV" ngircd -n -f "$W/ngircd.conf" >"$W/ngircd.log" 2>&1 &
mkdir -p "$W/sane-srv" "$W/sane-cli"
echo test >"$W/sane-srv/dll.conf"; printf "192.0.2.0/24\n198.51.100.0/24\n" >"$W/sane-srv/saned.conf"  # the clients, also masqueraded
cp /etc/sane.d/test.conf "$W/sane-srv/" 2>/dev/null || : >"$W/sane-srv/test.conf"
echo net >"$W/sane-cli/dll.conf"; echo 198.51.100.2 >"$W/sane-cli/net.conf"
# saned denies every client when the host name does not resolve (as in the
# VM): it runs in a UTS namespace of its own named localhost.
SANE_CONFIG_DIR=$W/sane-srv inns "$SRV" unshare --uts sh -c 'hostname localhost && exec saned -l -e -d 2' >"$W/saned.log" 2>&1 &
for _ in $(seq 100); do
  inns "$SRV" ss -ltn | grep -q ':6667 ' && inns "$SRV" ss -ltn | grep -q ':6566 ' && break; sleep 0.1
done
inns "$SRV" ss -ltn | grep -q ':6667 ' && inns "$SRV" ss -ltn | grep -q ':6566 ' && ok "ngircd and saned listen" \
  || { bad "ngircd or saned did not start"; cat "$W/ngircd.log" "$W/saned.log"; }

# --- the three flows -------------------------------------------------------------
run=0
# irc ALLOW: alice offers 2 files to bob; ALLOW is the address bob must
# see in the offers. Succeeds when both arrived intact.
irc() {
  run=$((run + 1))
  printf 'send a.txt 3000\nsend b.bin 20000\n' >"$W/irc.script"
  DCC_ALLOW=$1 inns "$SRV" $PY "$ORACLE/ircdcc.py" recv 198.51.100.2 bob$run >"$W/bob.log" 2>&1 &
  local bp=$!
  for _ in $(seq 100); do grep -q ready "$W/bob.log" && break; sleep 0.1; done
  timeout -s KILL 60 ip netns exec "$CLI" $PY "$ORACLE/ircdcc.py" send 198.51.100.2 alice$run bob$run "$W/irc.script" >"$W/alice.log" 2>&1
  wait $bp
  [[ $(grep -c "file [0-9]* ok" "$W/bob.log") == 2 ]]
}
# sane: two scans; succeeds when both images arrived.
sane() {
  rm -f "$W"/scan-*.pnm
  ip netns exec "$FW" tcpdump -i f0 -nn -U -w "$W/sane.pcap" tcp 2>/dev/null &
  local tp=$!; sleep 0.5
  SANE_CONFIG_DIR=$W/sane-cli timeout -s KILL 60 ip netns exec "$CLI" scanimage -d net:198.51.100.2:test:0 --mode Gray \
    --resolution 50 -x 30 -y 30 --format=pnm --batch="$W/scan-%d.pnm" --batch-count=2 >"$W/scanimage.log" 2>&1
  kill $tp; wait $tp 2>/dev/null
  [[ $(ls "$W"/scan-*.pnm 2>/dev/null | wc -l) == 2 ]]
}
# amanda [ADDR]: two backup requests, 3 + 4 streams, to the client at
# ADDR (default its own address; the firewall's under DNAT).
amanda() {
  inns "$SRV" $PY "$ORACLE/amanda.py" client 198.51.100.2 >"$W/amclient.log" 2>&1 &
  local cp=$!
  for _ in $(seq 100); do grep -q ready "$W/amclient.log" && break; sleep 0.1; done
  timeout -s KILL 60 ip netns exec "$CLI" $PY "$ORACLE/amanda.py" server "${1:-198.51.100.2}" 2 >"$W/amserver.log" 2>&1
  kill $cp 2>/dev/null; wait $cp 2>/dev/null
  [[ $(grep -c " stream of the backup" "$W/amserver.log") == 7 ]]
}
ip netns exec "$FW" stdbuf -oL conntrack -E expect >"$W/expect.log" 2>&1 &
for _ in $(seq 100); do ls -l /proc/$!/fd 2>/dev/null | grep -q socket && break; sleep 0.05; done
expected() { grep NEW "$W/expect.log" | grep -c "helper=$1"; }

firewall plain
irc 192.0.2.1 && ok "irc: 2 DCC SEND files arrived through the dropping firewall ($(expected irc) expectations)" \
  || { bad "irc: DCC failed"; tail -5 "$W/bob.log" "$W/alice.log"; }
sane && ok "sane: 2 images arrived through the dropping firewall ($(expected sane) expectations)" \
  || { bad "sane: scans failed"; tail -5 "$W/scanimage.log"; echo "--- saned"; tail -25 "$W/saned.log"; echo "--- ctlua"; grep -i sane "$W/ctlua.log" | tail -10
     echo "--- expectations"; grep helper=sane "$W/expect.log" | tail -3; echo "--- the scan as fw saw it"; tcpdump -nn -r "$W/sane.pcap" 2>/dev/null | tail -25; }
amanda && ok "amanda: 7 streams passed the dropping firewall ($(expected amanda) expectations)" \
  || { bad "amanda: streams failed"; tail -5 "$W/amserver.log" "$W/amclient.log"; }

firewall snat
n0=$(expected irc)
irc 198.51.100.254 && ok "irc, alice masqueraded: the offers name 198.51.100.254 and both files arrived" \
  || { bad "irc, masqueraded: DCC failed"; tail -5 "$W/bob.log" "$W/alice.log"; tail -20 "$W/ctlua.log"; }
grep NEW "$W/expect.log" | grep "helper=irc" | tail -n +$((n0 + 1)) | grep -q "dst=198.51.100.254 " \
  && ok "irc, masqueraded: the expectation is for the firewall's address" || { bad "irc, masqueraded: no expectation for 198.51.100.254"; tail -3 "$W/expect.log"; }

sane && ok "sane, scanimage masqueraded: both images arrived (no NAT helper needed: the data connection is SNAT'ed like any)" \
  || { bad "sane, masqueraded: scans failed"; tail -5 "$W/scanimage.log"; }

# The Amanda client behind DNAT: the server asks the firewall's outside
# address; the streams follow the master's NAT to the real client.
firewall dnat
amanda 192.0.2.254 && ok "amanda, client behind DNAT: 7 streams to the firewall's address reached the client" \
  || { bad "amanda, DNAT: streams failed"; tail -5 "$W/amserver.log" "$W/amclient.log"; grep -i amanda "$W/ctlua.log" | tail -5; }

# --- controls: without the ctlua rules the data connections are dropped ----------
firewall plain
inns "$FW" nft delete table inet ctlua
irc 192.0.2.1 && bad "irc: DCC passed without the helper" || ok "irc: without the helper the DCC connections are dropped"
sane && bad "sane: scans passed without the helper" || ok "sane: without the helper the images are dropped"
amanda && bad "amanda: streams passed without the helper" || ok "amanda: without the helper the streams are dropped"

no_script_failures
finish
