# lib.sh - what the kernel-oracle recorders share. Source it after setting
# CLI and SRV (the two namespaces) and W (the work directory); it sets the
# EXIT trap that removes them.

inns() { local n=$1; shift; ip netns exec "$n" "$@"; }

# cleanup ends whatever still runs in the namespaces (all started by the
# recorder; in.tftpd's per-request children ignore SIGTERM, so SIGKILL
# after a second), then deletes the namespaces and the work directory.
cleanup() {
  local n i
  jobs -p | xargs -r kill 2>/dev/null || true
  for i in $(seq 11); do
    n=$( { ip netns pids $CLI; ip netns pids $SRV; } 2>/dev/null | sort -u)
    [ -n "$n" ] || break
    if [ "$i" -lt 11 ]; then kill $n 2>/dev/null || true; sleep 0.1; else kill -9 $n 2>/dev/null || true; fi
  done
  wait 2>/dev/null || true
  ip netns del $CLI 2>/dev/null || true; ip netns del $SRV 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# oracle_topology PROTO PORT HELPER: cli 192.0.2.1 / 2001:db8::1 and srv
# 192.0.2.2 / 2001:db8::2 on a veth pair; the kernel's HELPER is attached
# in cli to PROTO PORT, and cli drops what is neither RELATED nor
# ESTABLISHED, so a data flow only passes through the kernel's expectation.
oracle_topology() {
  local proto=$1 port=$2 helper=$3 n ipt
  ip netns add $CLI; ip netns add $SRV
  ip link add v0 netns $CLI type veth peer name v1 netns $SRV
  inns $CLI ip addr add 192.0.2.1/24 dev v0; inns $CLI ip addr add 2001:db8::1/64 dev v0 nodad
  inns $SRV ip addr add 192.0.2.2/24 dev v1; inns $SRV ip addr add 2001:db8::2/64 dev v1 nodad
  for n in $CLI $SRV; do inns $n ip link set lo up; done
  inns $CLI ip link set v0 up; inns $SRV ip link set v1 up
  inns $CLI ethtool -K v0 tx off rx off >/dev/null 2>&1 || true
  for ipt in iptables ip6tables; do
    # ORACLE_IPV4_ONLY=1: the kernel's helper exists for IPv4 only (irc).
    [[ $ipt == ip6tables && ${ORACLE_IPV4_ONLY:-0} == 1 ]] ||
    inns $CLI $ipt -t raw -A OUTPUT -p $proto --dport $port -j CT --helper $helper ||
      { echo "oracle: $ipt: cannot attach the kernel's $helper helper (nf_conntrack_$helper missing?)" >&2; exit 1; }
    inns $CLI $ipt -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    inns $CLI $ipt -A INPUT -i lo -j ACCEPT
    inns $CLI $ipt -P INPUT DROP
  done
  inns $CLI ip6tables -I INPUT -p ipv6-icmp -j ACCEPT  # neighbour discovery
  inns $CLI conntrack -L >/dev/null 2>&1 || { echo "oracle: no conntrack in the namespace" >&2; exit 1; }
}

# record_tries WHAT CMD...: runs CMD (one recording, returning 1 when its
# capture is incomplete) up to three times: on a loaded host tcpdump can
# miss the first packet or drop some.
record_tries() {
  local what=$1 try
  shift
  for try in 1 2 3; do "$@" && return 0; done
  echo "$what: no complete capture in 3 tries" >&2
  exit 1
}

# capture_ok PCAP TCPDUMP-STDERR FIRST: tcpdump lost nothing and the
# capture starts with the packet FIRST matches (an ERE on tcpdump -n).
capture_ok() {
  grep -q "^0 packets dropped by kernel" "$2" && tcpdump -nr "$1" -c 1 2>/dev/null | grep -qE "$3"
}
