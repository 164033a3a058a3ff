#!/usr/bin/env python3
"""ircdcc.py - scripted IRC clients doing real DCC over a real IRC server
(record-irc.sh runs them against ngircd).

  ircdcc.py recv SERVER NICK             accept DCC offers until QUIT
  ircdcc.py send SERVER NICK PEER SCRIPT  announce what SCRIPT says

recv answers every "PRIVMSG NICK :\\1DCC SEND|CHAT ..." whose address is
DCC_ALLOW (default 192.0.2.1): it connects to the announced address and
port, reads a file (acknowledging each block with the 4-byte total, as DCC
SEND does) or exchanges a line (CHAT), and prints what it got. send runs
the SCRIPT lines: "send NAME SIZE", "chat", "raw TEXT" (sent as is, e.g.
a forged offer), "sleep S". For send and chat it listens on a fresh port
of ITS_ADDR, announces it and serves the peer's connection.
"""
import os, socket, sys, threading, time

def ip_int(a):
    return int.from_bytes(socket.inet_aton(a), "big")

class Client:
    def __init__(self, server, nick):
        self.s = socket.create_connection((server, 6667), timeout=20)
        self.buf = b""
        self.send("NICK %s" % nick)
        self.send("USER %s 0 * :%s" % (nick, nick))
        while True:
            l = self.line()
            if l.startswith("PING"):
                self.send("PONG" + l[4:])
            if " 001 " in l:
                return
            if " 433 " in l:
                raise SystemExit("nick %s in use" % nick)

    def send(self, text):
        self.s.sendall(text.encode() + b"\r\n")

    def line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(4096)
            if not d:
                raise EOFError
            self.buf += d
        l, self.buf = self.buf.split(b"\n", 1)
        return l.rstrip(b"\r").decode("latin-1")

def serve_send(ls, size):
    c, _ = ls.accept()
    data = (b"ctlua-dcc-" * (size // 10 + 1))[:size]
    c.sendall(data)
    got = 0
    while got < size:  # the receiver's acknowledgements
        a = c.recv(4)
        if not a:
            break
        got = int.from_bytes(a, "big")
    c.close()

def serve_chat(ls):
    c, _ = ls.accept()
    c.sendall(b"hello from the sender\n")
    c.recv(100)
    c.close()

def sender(server, nick, peer, script):
    me = os.environ.get("ITS_ADDR", "192.0.2.1")
    cl = Client(server, nick)
    for cmd in open(script).read().splitlines():
        w = cmd.split(" ", 1)
        if w[0] == "sleep":
            time.sleep(float(w[1]))
            continue
        if w[0] == "raw":
            cl.s.sendall(w[1].encode().decode("unicode_escape").encode("latin-1"))
            continue
        ls = socket.socket()
        ls.bind((me, 0)); ls.listen(1); ls.settimeout(15)
        port = ls.getsockname()[1]
        if w[0] == "send":
            name, size = w[1].split()
            t = threading.Thread(target=serve_send, args=(ls, int(size)))
            t.start()
            cl.send("PRIVMSG %s :\x01DCC SEND %s %d %d %s\x01" % (peer, name, ip_int(me), port, size))
        else:
            t = threading.Thread(target=serve_chat, args=(ls,))
            t.start()
            cl.send("PRIVMSG %s :\x01DCC CHAT chat %d %d\x01" % (peer, ip_int(me), port))
        t.join()
        print("served", cmd, "on port", port, flush=True)
    cl.send("PRIVMSG %s :bye" % peer)
    time.sleep(0.3)
    cl.send("QUIT :done")
    try:  # the server closes once the nick is free again
        while cl.s.recv(4096):
            pass
    except OSError:
        pass

def receive(kind, addr, port, size):
    c = socket.create_connection((addr, port), timeout=10)
    if kind == "CHAT":
        l = c.recv(100)
        c.sendall(b"hello from the receiver\n")
        print("chat", l.decode().strip(), flush=True)
    else:
        got = b""
        while len(got) < size:
            d = c.recv(4096)
            if not d:
                break
            got += d
            c.sendall(len(got).to_bytes(4, "big"))
        ok = got == (b"ctlua-dcc-" * (size // 10 + 1))[:size]
        print("file", size, "ok" if ok else "BAD", flush=True)
    c.close()

def receiver(server, nick):
    allow = os.environ.get("DCC_ALLOW", "192.0.2.1")
    cl = Client(server, nick)
    print("ready", flush=True)
    while True:
        l = cl.line()
        if l.startswith("PING"):
            cl.send("PONG" + l[4:])
        if "PRIVMSG %s :bye" % nick in l:
            cl.send("QUIT :done")
            return
        i = l.find("PRIVMSG %s :\x01DCC " % nick)
        if i < 0:
            continue
        f = l[i:].split(":\x01DCC ", 1)[1].rstrip("\x01").split()
        addr = socket.inet_ntoa(int(f[2]).to_bytes(4, "big"))
        if addr != allow or f[3] == "0":
            print("ignored offer for", addr, f[3], flush=True)
            continue
        receive(f[0], addr, int(f[3]), int(f[4]) if len(f) > 4 else 0)

if __name__ == "__main__":
    if sys.argv[1] == "recv":
        receiver(sys.argv[2], sys.argv[3])
    else:
        sender(*sys.argv[2:6])
