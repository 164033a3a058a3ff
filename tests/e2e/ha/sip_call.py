"""A SIP call whose media crosses a firewall failover, for tests/e2e/ha.sh.

    sip_call.py client|server WORKDIR ME PEER [SIPPORT]

alice (client, SIP from SIPPORT, default 5062, media on 40000) calls bob (server, 5060,
media on 31000) at PEER; bob answers. Before the failover bob's media
reaches alice (a flow the INVITE's expectation let in). alice then writes
WORKDIR/sip-ready and both wait for WORKDIR/sip-failed-over. After it:
bob's media again (the established flow, replicated by conntrackd), then
alice's first media to bob (the 200 OK's expectation, created before the
failover, used after it), and alice hangs up (BYE through the new master).
Each prints "STEP name ok" or "STEP name FAIL reason". Media goes to the
address and port of the peer's SDP as received, so a NAT helper's
rewriting decides where it goes.
"""
import os
import random
import socket
import sys
import time

ROLE, WORK, ME, PEER = sys.argv[1:5]
SIPPORT = int(sys.argv[5]) if len(sys.argv) > 5 else 5062
TIMEOUT = 20


def step(name, ok, why=""):
    print("STEP", name, "ok" if ok else "FAIL " + why, flush=True)


def sock(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ME, port))
    s.settimeout(TIMEOUT)
    return s


def sdp(port):
    return ("v=0\r\no=- 4711 1 IN IP4 %s\r\ns=ctlua\r\nc=IN IP4 %s\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" % (ME, ME, port))


def message(start, headers, body=""):
    if body:
        headers = headers + ["Content-Type: application/sdp"]
    return ("\r\n".join([start] + headers + ["Content-Length: %d" % len(body)]) + "\r\n\r\n" + body).encode()


def header(text, name):
    for line in text.split("\r\n"):
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def media_of(text):
    lines = text.split("\r\n")
    addr = [l for l in lines if l.startswith("c=IN ")][0].split()[2]
    port = int([l for l in lines if l.startswith("m=audio")][0].split()[1])
    return addr, port


def recv(s, want):
    while True:
        data, src = s.recvfrom(65535)
        text = data.decode(errors="replace")
        if want in text.split("\r\n", 1)[0] or ("CSeq:" in text and want in header(text, "CSeq")):
            return text, src


def rtp(s, to, n=3):
    for i in range(n):
        s.sendto(bytes([0x80, 0, 0, i]) + b"\0" * 8 + b"media", to)
        time.sleep(0.05)


def got_media(s, n=3):
    try:
        for _ in range(n):
            s.recvfrom(2048)
        return True
    except socket.timeout:
        return False


def wait_file(name):
    end = time.time() + 180
    while not os.path.exists(os.path.join(WORK, name)):
        if time.time() > end:
            return False
        time.sleep(0.05)
    return True


def client():
    s, m = sock(SIPPORT), sock(40000)
    call_id, tag = "%x@ha" % random.getrandbits(32), "%x" % random.getrandbits(32)
    h = ["Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%x;rport" % (ME, SIPPORT, random.getrandbits(32)), "Max-Forwards: 70",
         "From: <sip:alice@%s>;tag=%s" % (ME, tag), "To: <sip:bob@%s>" % PEER, "Call-ID: " + call_id]
    s.sendto(message("INVITE sip:bob@%s:5060 SIP/2.0" % PEER, h + ["CSeq: 1 INVITE", "Contact: <sip:alice@%s:%d>" % (ME, SIPPORT)],
                     sdp(40000)), (PEER, 5060))
    text, _ = recv(s, "INVITE")
    totag = header(text, "To")
    ack = [x if not x.startswith("To:") else "To: " + totag for x in h]
    s.sendto(message("ACK sip:bob@%s:5060 SIP/2.0" % PEER, ack + ["CSeq: 1 ACK"]), (PEER, 5060))
    bob = media_of(text)
    step("before-media", got_media(m), "bob's media did not arrive")
    open(os.path.join(WORK, "sip-ready"), "w").close()
    if not wait_file("sip-failed-over"):
        step("failover", False, "never signalled")
        return 1
    step("established-media", got_media(m), "bob's media stopped at the failover")
    out = sock(40010)
    rtp(out, bob)  # bob reports whether it arrived
    bye = [x if not x.startswith("To:") else "To: " + totag for x in h]
    s.sendto(message("BYE sip:bob@%s:5060 SIP/2.0" % PEER, bye + ["CSeq: 2 BYE"]), (PEER, 5060))
    try:
        recv(s, "BYE")
        step("bye", True)
    except socket.timeout:
        step("bye", False, "no answer to BYE")
    return 0


def server():
    s, m, out = sock(5060), sock(31000), sock(31010)
    s.settimeout(180)
    text, src = recv(s, "INVITE sip:")
    tag = "%x" % random.getrandbits(32)
    h = [l for l in text.split("\r\n")[1:] if l.split(":")[0].lower() in ("via", "from", "call-id", "cseq")]
    h.append("To: %s;tag=%s" % (header(text, "To"), tag))
    h.append("Contact: <sip:bob@%s:5060>" % ME)
    alice = media_of(text)
    s.sendto(message("SIP/2.0 200 OK", h, sdp(31000)), src)
    recv(s, "ACK")
    rtp(out, alice)
    if not wait_file("sip-failed-over"):
        return 1
    time.sleep(0.5)
    rtp(out, alice)  # the established flow
    step("expected-media", got_media(m), "alice's first media did not arrive")
    text, src = recv(s, "BYE")
    h = [l for l in text.split("\r\n")[1:] if l.split(":")[0].lower() in ("via", "from", "to", "call-id", "cseq")]
    s.sendto(message("SIP/2.0 200 OK", h), src)
    return 0


sys.exit(client() if ROLE == "client" else server())
