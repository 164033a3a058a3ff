#!/usr/bin/env python3
"""mcast.py - scripted peers of the multicast helpers' tests (tests/e2e/mcast.sh).

  mcast.py mdns-query GROUP IFACE NAME [TRIES]   legacy unicast mDNS query (RFC 6762
                                            section 6.7: from an ephemeral port) for
                                            NAME's A/AAAA record to GROUP, port 5353
  mcast.py slp-sa ADDR4 IFACE                 an SLPv2 service agent (RFC 2608) on port
                                            427: answers every SrvRqst to
                                            239.255.255.253 or ff02::116 by unicast
  mcast.py slp-query GROUP IFACE [TRIES]      a SrvRqst for service:printer to GROUP:427
  mcast.py notify-sink ADDR PORT            a UPnP control point's event callback: an HTTP
                                            server that prints "NOTIFY from ADDR SID" for
                                            each NOTIFY (UPnP eventing) and answers 200

A query prints "answer from ADDR PORT" for the first answer and exits 0;
1 when none came (each try waits 2 s).
"""
import socket
import struct
import sys


def sockaddr(group, iface, port):
    """The socket family and address of GROUP on IFACE."""
    if ":" in group:
        return socket.AF_INET6, (group, port, 0, socket.if_nametoindex(iface))
    return socket.AF_INET, (group, port)


def client(group, iface, port):
    fam, dst = sockaddr(group, iface, port)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex(iface))
    s.settimeout(2)
    return s, dst


def ask(s, dst, msg, tries, good):
    for _ in range(tries):
        s.sendto(msg, dst)
        try:
            while True:
                data, src = s.recvfrom(9000)
                if good(data):
                    print("answer from", src[0], src[1], flush=True)
                    return 0
        except socket.timeout:
            pass
    print("no answer", flush=True)
    return 1


def mdns_query(group, iface, name, tries=3):
    qtype = 28 if ":" in group else 1
    q = struct.pack("!HHHHHH", 0x4242, 0, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack("!HH", qtype, 1)
    s, dst = client(group, iface, 5353)
    return ask(s, dst, q, tries, lambda d: len(d) > 12 and d[:2] == b"\x42\x42" and struct.unpack("!H", d[6:8])[0] > 0)


def slp_header(fid, body, xid, mcast):
    lang = b"en"
    n = 14 + len(lang) + len(body)
    return (struct.pack("!BB", 2, fid) + n.to_bytes(3, "big") + struct.pack("!H", 0x2000 if mcast else 0)
            + (0).to_bytes(3, "big") + struct.pack("!HH", xid, len(lang)) + lang + body)


def slpstr(s):
    return struct.pack("!H", len(s)) + s


def slp_query(group, iface, tries=3):
    body = slpstr(b"") + slpstr(b"service:printer") + slpstr(b"DEFAULT") + slpstr(b"") + slpstr(b"")
    s, dst = client(group, iface, 427)
    return ask(s, dst, slp_header(1, body, 0x1234, True), tries, lambda d: len(d) > 16 and d[0] == 2 and d[1] == 2)


def slp_sa(addr4, iface):
    import select
    idx = socket.if_nametoindex(iface)
    s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s4.bind(("0.0.0.0", 427))
    s4.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                  socket.inet_aton("239.255.255.253") + socket.inet_aton(addr4))
    s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s6.bind(("::", 427))
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                  socket.inet_pton(socket.AF_INET6, "ff02::116") + struct.pack("@I", idx))
    print("slp-sa ready", flush=True)
    url = b"service:printer:lpr://" + addr4.encode() + b"/queue"
    while True:
        r, _, _ = select.select([s4, s6], [], [])
        for s in r:
            data, src = s.recvfrom(9000)
            if len(data) < 16 or data[0] != 2 or data[1] != 1:
                continue
            xid = struct.unpack("!H", data[10:12])[0]
            body = struct.pack("!HH", 0, 1) + b"\0" + struct.pack("!H", 60) + slpstr(url) + b"\0"
            s.sendto(slp_header(2, body, xid, False), src)
            print("answered", src[0], src[1], flush=True)


def notify_sink(addr, port):
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_NOTIFY(self):
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            print("NOTIFY from", self.client_address[0], self.headers.get("SID", "-"), flush=True)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer((addr, port), Handler)
    print("notify-sink ready", flush=True)
    srv.serve_forever()


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "mdns-query" and len(argv) in (5, 6):
        return mdns_query(argv[2], argv[3], argv[4], *map(int, argv[5:]))
    if cmd == "slp-query" and len(argv) in (4, 5):
        return slp_query(argv[2], argv[3], *map(int, argv[4:]))
    if cmd == "slp-sa" and len(argv) == 4:
        return slp_sa(argv[2], argv[3])
    if cmd == "notify-sink" and len(argv) == 4:
        return notify_sink(argv[2], int(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
