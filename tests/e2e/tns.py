#!/usr/bin/env python3
"""tns.py - scripted Oracle TNS peers for the rpc/tns tests (no Oracle
server here), written from the protocol description of the TNS packet
(Wireshark's TNS dissector): an 8-byte header (length, packet checksum,
type, flags, header checksum), CONNECT (type 1), ACCEPT (2), REDIRECT (5:
redirect data length, then the data) and DATA (6: data flags, then data).

  tns.py listener ADDR HOST DATAPORT
      listens on ADDR:1521 and ADDR:DATAPORT (the "dedicated server").
      A CONNECT on 1521 is answered with a REDIRECT to (HOST=HOST)
      (PORT=DATAPORT) and the connection closed: the address in the
      REDIRECT, or, when the client asked for the service SPLIT, an empty
      REDIRECT and the address in the next DATA packet (data flags 0, as
      a listener does when the redirect data is long). A CONNECT on DATAPORT
      is ACCEPTed, then a DATA "ping" is answered with "pong".
      Prints "ready" once listening.
  tns.py client ADDR [SPLIT]
      connects to ADDR:1521, sends a CONNECT (service ORCL, or SPLIT),
      follows the redirect it gets
      (to the HOST and PORT it names) and prints "ok HOST PORT" after the
      pong; exits 1 on any failure (timeouts: 10 s).
"""
import re
import socket
import struct
import sys
import threading

CONNECT, ACCEPT, REDIRECT, DATA = 1, 2, 5, 6


def packet(kind, body):
    return struct.pack(">HHBBH", 8 + len(body), 0, kind, 0, 0) + body


def read_packet(f):
    """Reads one TNS packet from f, the socket's one buffered reader."""
    head = f.read(8)
    if len(head) < 8:
        raise EOFError("connection closed in a TNS header")
    length, kind = struct.unpack(">H", head[:2])[0], head[4]
    body = f.read(length - 8)
    if len(body) < length - 8:
        raise EOFError("connection closed in a TNS packet")
    return kind, body


def connect_packet(data):
    data = data.encode()
    # version 313, compatible 300, options, SDU, TDU, NT characteristics,
    # line turnaround, value of 1, connect data length and offset (58),
    # max receivable, flags, cross-facility items, unique id, padding
    fixed = struct.pack(">HHHHHHHHHHIBBIIQ", 313, 300, 0, 8192, 32767, 0x7F08, 0, 0x0100,
                        len(data), 58, 2048, 0x41, 0x41, 0, 0, 0)
    return packet(CONNECT, fixed + b"\0" * (50 - len(fixed)) + data)


def serve_listener(conn, host, dport):
    with conn:
        kind, body = read_packet(conn.makefile("rb"))
        if kind != CONNECT:
            return
        addr = ("(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=%s)(PORT=%d)))" % (host, dport)).encode()
        if b"SERVICE_NAME=SPLIT" not in body:
            conn.sendall(packet(REDIRECT, struct.pack(">H", len(addr)) + addr))
        else:
            conn.sendall(packet(REDIRECT, struct.pack(">H", 0)))
            conn.sendall(packet(DATA, struct.pack(">H", 0) + addr))


def serve_dedicated(conn):
    with conn:
        f = conn.makefile("rb")
        kind, _ = read_packet(f)
        if kind != CONNECT:
            return
        conn.sendall(packet(ACCEPT, struct.pack(">HHHHHHHBB", 313, 0, 8192, 32767, 0x0100, 0, 24, 0x41, 0x41)))
        kind, body = read_packet(f)
        if kind == DATA and body[2:] == b"ping":
            conn.sendall(packet(DATA, b"\0\0pong"))


def accept_loop(sock, handler, *args):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=handler, args=(conn,) + args, daemon=True).start()


def listen(addr, port):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    return s


def listener(addr, host, dport):
    main, ded = listen(addr, 1521), listen(addr, dport)
    threading.Thread(target=accept_loop, args=(ded, serve_dedicated), daemon=True).start()
    print("ready", flush=True)
    accept_loop(main, serve_listener, host, dport)


def client(addr, service):
    s = socket.create_connection((addr, 1521), timeout=10)
    s.sendall(connect_packet("(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME=%s))"
                             "(ADDRESS=(PROTOCOL=TCP)(HOST=%s)(PORT=1521)))" % (service, addr)))
    f = s.makefile("rb")
    kind, body = read_packet(f)
    if kind != REDIRECT:
        sys.exit("expected a REDIRECT, got type %d" % kind)
    data = body[2:]
    if struct.unpack(">H", body[:2])[0] == 0 or not data:
        kind, body = read_packet(f)
        if kind != DATA:
            sys.exit("expected the redirect data in a DATA packet, got type %d" % kind)
        data = body[2:]
    s.close()
    m = re.search(rb"\(HOST=\[?([0-9A-Fa-f:.]+)\]?\).*?\(PORT=(\d+)\)", data)
    if not m:
        sys.exit("no HOST and PORT in the redirect: %r" % data)
    host, port = m.group(1).decode(), int(m.group(2))
    d = socket.create_connection((host, port), timeout=10)
    d.sendall(connect_packet("(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME=ORCL)))"))
    df = d.makefile("rb")
    kind, _ = read_packet(df)
    if kind != ACCEPT:
        sys.exit("expected ACCEPT from %s:%d, got type %d" % (host, port, kind))
    d.sendall(packet(DATA, b"\0\0ping"))
    kind, body = read_packet(df)
    if kind != DATA or body[2:] != b"pong":
        sys.exit("no pong from %s:%d" % (host, port))
    print("ok %s %d" % (host, port), flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "listener":
        listener(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) in (3, 4) and sys.argv[1] == "client":
        try:
            client(sys.argv[2], sys.argv[3] if len(sys.argv) == 4 else "ORCL")
        except (OSError, EOFError) as e:
            sys.exit("client: %s" % e)
    else:
        sys.exit(__doc__)
