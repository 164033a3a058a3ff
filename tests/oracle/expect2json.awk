# expect2json.awk - turn `conntrack -E expect` lines into JSON lines:
#   [NEW] 300 proto=6 src=A dst=B sport=0 dport=P mask-src=M mask-dst=M sport=0 dport=65535
#         master-src=A master-dst=B sport=S dport=21 class=0 helper=ftp
# Fields repeat (sport/dport for tuple, mask and master), so they are
# assigned in order of appearance.
/\[NEW\]/ {
  timeout = $2; n = 0; delete v
  for (i = 3; i <= NF; i++) {
    split($i, kv, "="); k = kv[1]; val = kv[2]
    if (k == "sport" || k == "dport") { seen[k]++; k = (seen[k] == 1 ? "" : (seen[k] == 2 ? "mask_" : "master_")) k }
    v[k] = val
  }
  delete seen
  l3 = (v["src"] ~ /:/) ? "ipv6" : "ipv4"
  printf "{\"l3\":\"%s\",\"proto\":\"%s\",\"src\":\"%s\",\"dst\":\"%s\",\"sport\":%d,\"dport\":%d,\"mask_src\":\"%s\",\"mask_dst\":\"%s\",\"mask_sport\":%d,\"mask_dport\":%d,\"master_src\":\"%s\",\"master_dst\":\"%s\",\"master_sport\":%d,\"master_dport\":%d,\"class\":%d,\"helper\":\"%s\",\"timeout\":%d}\n",
    l3, (v["proto"] == 6 ? "tcp" : (v["proto"] == 17 ? "udp" : v["proto"])), v["src"], v["dst"], v["sport"], v["dport"],
    v["mask-src"], v["mask-dst"], v["mask_sport"], v["mask_dport"], v["master-src"], v["master-dst"],
    v["master_sport"], v["master_dport"], v["class"], v["helper"], timeout
}
