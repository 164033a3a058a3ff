#!/usr/bin/env python3
"""pmap.py - a portmapper version 2 client over TCP (RFC 1833's
PMAPPROC_GETPORT, RFC 5531's record marking), for the rpc tests: Debian's
libtirpc clients (rpcinfo) ask rpcbind with GETADDR, and the kernel's NFS
client needs an NFS server; this one asks the real rpcbind what
conntrackd's helper understands, then calls the program's NULL procedure
over TCP on the port it got.

  pmap.py ADDR PROG VERS     prints "ok PORT" after the NULL call's reply;
                             exits 1 on any failure (timeouts: 10 s)
"""
import socket
import struct
import sys


def call(sock, xid, prog, vers, proc, args=b""):
    msg = struct.pack(">IIIIII", xid, 0, 2, prog, vers, proc) + b"\0" * 16 + args
    sock.sendall(struct.pack(">I", 0x80000000 | len(msg)) + msg)
    f = sock.makefile("rb")
    head = f.read(4)
    n = struct.unpack(">I", head)[0] & 0x7FFFFFFF if len(head) == 4 else 0
    body = f.read(n)
    if n < 24 or len(body) != n:
        raise EOFError("connection closed before the whole reply")
    rxid, mtype, stat = struct.unpack(">III", body[:12])
    vlen = struct.unpack(">I", body[16:20])[0]
    off = 20 + (vlen + 3) // 4 * 4
    accept = struct.unpack(">I", body[off:off + 4])[0]
    if rxid != xid or mtype != 1 or stat != 0 or accept != 0:
        raise ValueError("reply: xid %d type %d status %d accept %d" % (rxid, mtype, stat, accept))
    return body[off + 4:]


def main(addr, prog, vers):
    s = socket.create_connection((addr, 111), timeout=10)
    res = call(s, 0x10C7, 100000, 2, 3, struct.pack(">IIII", prog, vers, 6, 0))
    s.close()
    port = struct.unpack(">I", res[:4])[0]
    if port == 0:
        raise ValueError("program %d version %d is not registered over TCP" % (prog, vers))
    d = socket.create_connection((addr, port), timeout=10)
    call(d, 0x10C8, prog, vers, 0)
    print("ok %d" % port, flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    try:
        main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
    except (OSError, EOFError, ValueError) as e:
        sys.exit("pmap.py: %s" % e)
