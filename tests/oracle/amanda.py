#!/usr/bin/env python3
"""amanda.py - a scripted Amanda server and client speaking the bsdudp
protocol of amandad over UDP port 10080 (record-amanda.sh).

  amanda.py client ADDR            answer requests on ADDR:10080
  amanda.py server CLIENT-ADDR N   send N sendbackup requests

The server (the backup host) sends "Amanda 2.6 REQ HANDLE ... SEQ n" with
a sendbackup request; the client acknowledges ("ACK"), opens TCP
listeners and replies ("REP") with "CONNECT DATA p MESG p INDEX p" (and
"STATE p" on every second request), then serves what the server fetches
on each port. The server acknowledges the reply, connects to every
announced port and reads. The message layout is Amanda's
(common-src/protocol.c, security-util.c); the contents are short.
"""
import socket, sys, threading

def serve(ls, name):
    c, _ = ls.accept()
    c.sendall(("%s stream of the backup\n" % name).encode())
    c.close()

def client(addr):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    u = socket.socket(fam, socket.SOCK_DGRAM)
    u.bind((addr, 10080))
    print("ready", flush=True)
    n = 0
    while True:
        req, peer = u.recvfrom(65535)
        head = req.split(b"\n", 1)[0].split()
        if head[2] == b"QUIT":
            return
        if head[2] != b"REQ":
            continue
        n += 1
        handle, seq = head[4].decode(), head[6].decode()
        u.sendto(("Amanda 2.6 ACK HANDLE %s SEQ %s\n" % (handle, seq)).encode(), peer)
        names = ["DATA", "MESG", "INDEX"] + (["STATE"] if n % 2 == 0 else [])
        ports = []
        for name in names:
            ls = socket.socket(fam); ls.bind((addr, 0)); ls.listen(1); ls.settimeout(15)
            ports.append(ls.getsockname()[1])
            threading.Thread(target=serve, args=(ls, name), daemon=True).start()
        conn = " ".join("%s %d" % (k, p) for k, p in zip(names, ports))
        rep = "Amanda 2.6 REP HANDLE %s SEQ %s\nCONNECT %s\nOPTIONS features=9ffe00;\n" % (handle, seq, conn)
        u.sendto(rep.encode(), peer)

def server(caddr, count):
    fam = socket.AF_INET6 if ":" in caddr else socket.AF_INET
    u = socket.socket(fam, socket.SOCK_DGRAM)
    u.settimeout(10)
    for i in range(1, count + 1):
        handle = "000-%08x" % (0x6c7a0000 + i)
        req = ("Amanda 2.6 REQ HANDLE %s SEQ %d\nSECURITY USER backup\nSERVICE sendbackup\n"
               "OPTIONS features=9ffe00;auth=bsdudp;\n<dle>\n  <disk>/etc</disk>\n  <level>0</level>\n</dle>\n" % (handle, 1000 + i))
        u.sendto(req.encode(), (caddr, 10080))
        while True:
            rep, peer = u.recvfrom(65535)
            if b" REP " in rep.split(b"\n", 1)[0]:
                break
        u.sendto(("Amanda 2.6 ACK HANDLE %s SEQ %d\n" % (handle, 1000 + i)).encode(), peer)
        words = rep.split(b"\n")[1].split()[1:]
        for k in range(0, len(words), 2):
            s = socket.create_connection((caddr, int(words[k + 1])), timeout=10)
            got = b""
            while True:
                d = s.recv(4096)
                if not d:
                    break
                got += d
            print(words[k].decode(), got.decode().strip(), flush=True)
    u.sendto(b"Amanda 2.6 QUIT HANDLE 0 SEQ 0\n", (caddr, 10080))

if __name__ == "__main__":
    if sys.argv[1] == "client":
        client(sys.argv[2])
    else:
        server(sys.argv[2], int(sys.argv[3]))
