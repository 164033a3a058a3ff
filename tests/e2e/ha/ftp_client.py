"""An FTP session across a firewall failover, for tests/e2e/ha.sh.

    ftp_client.py WORKDIR HOST MODE

Logs in to HOST through the active firewall, transfers a.txt (active when
MODE is snat: the PORT rewrite changes the command's length; passive
otherwise, which DNAT rewrites), then announces a data connection it does
not open yet (PASV: with PORT the server would connect at once), writes
WORKDIR/ready and waits for WORKDIR/failed-over. Two more control
connections are logged in and idle by then. After the failover: the
announced data connection (RETR b.txt); on the idle connections, a
passive transfer whose PASV is the connection's first command after the
failover (the 227 reply is the first segment the new master sees from the
server) and an active one whose PORT is; then on the first connection a
new passive (c.txt) and a new active (d.txt) transfer (after TYPE I,
which ftplib sends first). Each step prints
"STEP name ok" or "STEP name FAIL reason"; the files are compared by the
caller (WORKDIR/got-*).
"""
import ftplib
import os
import socket
import sys
import time

work, host, mode = sys.argv[1], sys.argv[2], sys.argv[3]


def step(name, fn):
    try:
        fn()
        print("STEP", name, "ok", flush=True)
    except Exception as e:  # a failed step is a result, not a crash
        print("STEP", name, "FAIL", repr(e), flush=True)


def get(ftp, name, passive):
    ftp.set_pasv(passive)
    with open(os.path.join(work, "got-" + name), "wb") as f:
        ftp.retrbinary("RETR " + name, f.write)


ftp = ftplib.FTP()
ftp.connect(host, 21, timeout=15)
with open(os.path.join(work, "sport"), "w") as f:  # the caller finds the connection by it
    f.write(str(ftp.sock.getsockname()[1]))
ftp.login()
step("before", lambda: get(ftp, "a.txt", mode != "snat"))

pending = {}


def announce():
    pending["addr"] = ftp.makepasv()  # 227 (rewritten by DNAT)


step("announce", announce)
idle = []


def login_idle():
    for _ in range(2):
        f = ftplib.FTP()
        f.connect(host, 21, timeout=15)
        f.login()
        f.voidcmd("TYPE I")
        idle.append(f)


step("idle-login", login_idle)
open(os.path.join(work, "ready"), "w").close()
deadline = time.time() + 120
while not os.path.exists(os.path.join(work, "failed-over")):
    if time.time() > deadline:
        print("STEP failover FAIL never signalled", flush=True)
        sys.exit(1)
    time.sleep(0.05)


def receive(f, data, name):
    """Stores what data carries as WORKDIR/got-name, then reads f's 226."""
    with open(os.path.join(work, "got-" + name), "wb") as out:
        while True:
            b = data.recv(8192)
            if not b:
                break
            out.write(b)
    data.close()
    f.voidresp()


def pending_transfer():
    """RETR b.txt over the data connection announced before the failover."""
    data = socket.create_connection(pending["addr"], timeout=15)
    ftp.sendcmd("RETR b.txt")
    receive(ftp, data, "b.txt")


def first_command(f, passive, name):
    """RETR name on f, whose first command after the failover is PASV or PORT."""
    if passive:
        data = socket.create_connection(f.makepasv(), timeout=15)
        f.sendcmd("RETR " + name)
    else:
        s = f.makeport()
        f.sendcmd("RETR " + name)
        s.settimeout(15)
        data, _ = s.accept()
    receive(f, data, name)


step("pending", pending_transfer)
step("first-pasv", lambda: first_command(idle[0], True, "e.txt"))
step("first-port", lambda: first_command(idle[1], False, "f.txt"))
step("passive", lambda: get(ftp, "c.txt", True))
step("active", lambda: get(ftp, "d.txt", False))
step("quit", ftp.quit)
