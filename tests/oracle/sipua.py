#!/usr/bin/env python3
"""sipua.py - a scripted SIP user agent for the kernel-oracle recordings
and the VM tests: real SIP/SDP messages over UDP sockets, and RTP/RTCP
packets on the ports the SDP announces.

  sipua.py server MYADDR PEERADDR [teardown]   (the registrar and callee/caller "bob", port 5060)
  sipua.py client MYADDR PEERADDR [teardown]   (the UA "alice": SIP from 5062, contact 5070)

The client registers, calls (INVITE/100/180/200/ACK), sends media, puts
the call on hold with a re-INVITE, sends media again and hangs up (BYE);
the server then calls the client's registered contact (an incoming call,
allowed only by the registration's expectation), which answers, media
flows both ways, and the server hangs up. Every RTP and RTCP flow starts
from the side the expectation allows, so each expectation is used once.
The client exits 0 when it received every media packet and every final
response it waited for, 1 otherwise (the media was blocked).

With "teardown" no media flows and every expectation is removed by the
helper: the registrar refuses the REGISTER (401), bob refuses a call
(486), alice cancels a ringing call (CANCEL, 487), then a call is
answered, re-INVITEd before any media and hung up (BYE).

Media goes to the address and port of the peer's SDP (c=, m=), so that a
NAT helper's rewriting decides where it goes.

Options (environment): SIPUA_ADVERTISE=ADDR puts ADDR instead of MYADDR
in the client's Contact, Via and SDP; SIPUA_TIMEOUT seconds to wait for
each message (default 3); SIPUA_LOG=FILE appends every SIP message
received to FILE (a NAT test checks what each side saw).
"""
import os, random, socket, sys, time

ROLE, ME, PEER = sys.argv[1], sys.argv[2], sys.argv[3]
TEARDOWN = sys.argv[4:] == ["teardown"]
V6 = ":" in ME
FAM = socket.AF_INET6 if V6 else socket.AF_INET
IPV = "IP6" if V6 else "IP4"
TIMEOUT = float(os.environ.get("SIPUA_TIMEOUT", "3"))
ADV = os.environ.get("SIPUA_ADVERTISE", ME)
LOG = os.environ.get("SIPUA_LOG")


def note(text):
    if LOG:
        with open(LOG, "a") as f:
            f.write(text + "\n----\n")


def host(a, port=None):
    h = "[%s]" % a if ":" in a else a
    return h if port is None else "%s:%d" % (h, port)


def sock(port):
    s = socket.socket(FAM, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ME, port))
    s.settimeout(TIMEOUT)
    return s


def sdp(addr, port, direction="sendrecv"):
    return ("v=0\r\no=- 4711 %d IN %s %s\r\ns=ctlua\r\nc=IN %s %s\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=%s\r\n"
            % (port, IPV, addr, IPV, addr, port, direction))


def message(start, headers, body=""):
    if body:
        headers = headers + ["Content-Type: application/sdp"]
    return ("\r\n".join([start] + headers + ["Content-Length: %d" % len(body)]) + "\r\n\r\n" + body).encode()


def recv(s, want):
    """The next SIP message on s whose start line or CSeq has want."""
    while True:
        data, src = s.recvfrom(65535)
        text = data.decode(errors="replace")
        note(text)
        if want in text.split("\r\n", 1)[0] or want in text:
            return text, src


def register(s, msg):
    """Sends a REGISTER and returns its response, sending it again every
    2 s while none came (RFC 3261 timer E, simplified): the first packet of
    a flow is the one a loaded firewall may lose."""
    deadline = time.time() + TIMEOUT
    while True:
        s.sendto(msg, (PEER, 5060))
        s.settimeout(min(2, max(0.1, deadline - time.time())))
        try:
            text, _ = recv(s, "REGISTER")
            return text
        except socket.timeout:
            if time.time() >= deadline:
                raise
        finally:
            s.settimeout(TIMEOUT)


def header(text, name):
    for line in text.split("\r\n"):
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def sdp_media(text):
    """The connection address and the audio port of a message's SDP: where
    the peer wants its media (after NAT rewriting, the translated one)."""
    lines = text.split("\r\n")
    addr = [l for l in lines if l.startswith("c=IN ")][0].split()[2]
    port = int([l for l in lines if l.startswith("m=audio")][0].split()[1])
    return addr, port


def rtp(port_from, to, port_to, n=3):
    s = sock(port_from)
    for i in range(n):
        s.sendto(bytes([0x80, 0, 0, i]) + b"\0" * 8 + b"media", (to, port_to))
        time.sleep(0.02)
    s.close()


def expect_media(socks, n=3):
    """Receive n packets on every socket; True when all came."""
    ok = True
    for s in socks:
        for _ in range(n):
            try:
                s.recvfrom(2048)
            except socket.timeout:
                ok = False
                break
    return ok


class Dialog:
    def __init__(self, s, me, peer, peer_port, user, peer_user, call_id):
        self.s, self.me, self.peer, self.peer_port = s, me, peer, peer_port
        self.user, self.peer_user, self.call_id, self.cseq = user, peer_user, call_id, 0
        self.tag = "%x" % random.getrandbits(32)

    def request(self, method, body="", cseq=None, to_tag=""):
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        port = self.s.getsockname()[1]
        h = ["Via: SIP/2.0/UDP %s;branch=z9hG4bK%x;rport" % (host(self.me, port), random.getrandbits(32)),
             "Max-Forwards: 70",
             "From: <sip:%s@%s>;tag=%s" % (self.user, host(self.me), self.tag),
             "To: <sip:%s@%s>%s" % (self.peer_user, host(self.peer), to_tag),
             "Call-ID: %s" % self.call_id, "CSeq: %d %s" % (cseq, method),
             "Contact: <sip:%s@%s>" % (self.user, host(self.me, port))]
        uri = "sip:%s@%s" % (self.peer_user, host(self.peer, self.peer_port))
        self.s.sendto(message("%s %s SIP/2.0" % (method, uri), h, body), (self.peer, self.peer_port))

    def respond(self, req, src, code, reason, body="", contact=None):
        h = [l for l in req.split("\r\n")[1:] if l.split(":")[0].lower() in ("via", "from", "call-id", "cseq")]
        to = header(req, "To")
        h.append("To: %s%s" % (to, "" if "tag=" in to else ";tag=%s" % self.tag))
        port = self.s.getsockname()[1]
        h.append("Contact: " + (contact or "<sip:%s@%s>" % (self.user, host(self.me, port))))
        self.s.sendto(message("SIP/2.0 %d %s" % (code, reason), h, body), src)


def client():
    ok = True
    s = sock(5062)
    d = Dialog(s, ADV, PEER, 5060, "alice", "bob", "%x@ctlua" % random.getrandbits(32))
    # registration: incoming calls to the contact 5070
    reg = Dialog(s, ADV, PEER, 5060, "alice", "alice", "reg-%x@ctlua" % random.getrandbits(32))
    h = ["Via: SIP/2.0/UDP %s;branch=z9hG4bKreg;rport" % host(ADV, 5062), "From: <sip:alice@%s>;tag=r1" % host(PEER),
         "To: <sip:alice@%s>" % host(PEER), "Call-ID: %s" % reg.call_id, "CSeq: 1 REGISTER",
         "Contact: <sip:alice@%s>" % host(ADV, 5070), "Expires: 3600"]
    register(s, message("REGISTER sip:%s SIP/2.0" % host(PEER), h))
    inbound = sock(5070)
    for media, hold in ((40000, "sendrecv"), (40100, "sendonly")):
        m = [sock(media), sock(media + 1)]
        d.request("INVITE", sdp(ADV, media, hold))
        while True:
            text, _ = recv(s, "INVITE")
            code = int(text.split(" ", 2)[1])
            if code >= 200:
                break
        totag = ";tag=" + header(text, "To").split("tag=")[1]
        d.request("ACK", cseq=d.cseq, to_tag=totag)
        peer_addr, peer_media = sdp_media(text)
        ok &= expect_media(m)            # bob -> alice (alice's SDP)
        for k in (0, 1):                 # alice -> bob (bob's SDP), from other ports
            rtp(media + 10 + k, peer_addr, peer_media + k)
        for x in m:
            x.close()
    d.request("BYE", to_tag=totag)
    recv(s, "BYE")
    # the incoming call, to the registered contact
    text, src = recv(inbound, "INVITE sip:")
    callee = Dialog(inbound, ADV, PEER, src[1], "alice", "bob", header(text, "Call-ID"))
    m = [sock(40200), sock(40201)]
    callee.respond(text, src, 200, "OK", sdp(ADV, 40200))
    recv(inbound, "ACK")
    peer_addr, peer_media = sdp_media(text)
    for k in (0, 1):
        rtp(40210 + k, peer_addr, peer_media + k)
    ok &= expect_media(m)
    bye, src = recv(inbound, "BYE")
    callee.respond(bye, src, 200, "OK")
    print("sipua: client done, media %s" % ("received" if ok else "MISSING"), flush=True)
    return 0 if ok else 1


def server():
    s = sock(5060)
    s.settimeout(None)
    d = Dialog(s, ME, PEER, 5062, "bob", "alice", "")
    contact = None
    while True:
        text, src = s.recvfrom(65535)
        text = text.decode(errors="replace")
        note(text)
        method = text.split(" ", 1)[0]
        if method == "REGISTER":
            c = header(text, "Contact")
            contact = c.strip("<>").split("@", 1)[1].split(">")[0]
            d.respond(text, src, 200, "OK", contact="%s;expires=3600" % c)
        elif method == "INVITE":
            media = 30000 if "sendrecv" in text else 30100
            d.respond(text, src, 100, "Trying")
            d.respond(text, src, 180, "Ringing")
            d.respond(text, src, 200, "OK", sdp(ME, media))
            alice_addr, alice_media = sdp_media(text)
            recv(s, "ACK")
            for k in (0, 1):
                rtp(media + k, alice_addr, alice_media + k)
        elif method == "BYE":
            d.respond(text, src, 200, "OK")
            break
    # call alice at her registered contact
    caddr, cport = contact.rsplit(":", 1)
    caddr = caddr.strip("[]")
    out = Dialog(s, ME, caddr, int(cport), "bob", "alice", "in-%x@ctlua" % random.getrandbits(32))
    out.request("INVITE", sdp(ME, 30200))
    s.settimeout(TIMEOUT)
    text, _ = recv(s, " 200 ")
    totag = ";tag=" + header(text, "To").split("tag=")[1]
    out.request("ACK", cseq=out.cseq, to_tag=totag)
    alice_addr, alice_media = sdp_media(text)
    for k in (0, 1):
        rtp(30200 + k, alice_addr, alice_media + k)
    time.sleep(0.3)
    out.request("BYE", to_tag=totag)
    recv(s, "BYE")
    return 0


def invite_until_final(d, media):
    d.request("INVITE", sdp(ADV, media))
    while True:
        text, _ = recv(d.s, "INVITE")
        code = int(text.split(" ", 2)[1])
        if code >= 180:
            return code, text


def client_teardown():
    s = sock(5062)
    h = ["Via: SIP/2.0/UDP %s;branch=z9hG4bKreg;rport" % host(ADV, 5062), "From: <sip:alice@%s>;tag=r1" % host(PEER),
         "To: <sip:alice@%s>" % host(PEER), "Call-ID: reg@ctlua", "CSeq: 1 REGISTER",
         "Contact: <sip:alice@%s>" % host(ADV, 5070), "Expires: 3600"]
    text = register(s, message("REGISTER sip:%s SIP/2.0" % host(PEER), h))
    ok = " 401 " in text.split("\r\n")[0]
    d = Dialog(s, ADV, PEER, 5060, "alice", "bob", "busy@ctlua")
    code, text = invite_until_final(d, 41000)
    ok &= code == 486
    d.request("ACK", cseq=d.cseq, to_tag=";tag=" + header(text, "To").split("tag=")[1])
    d = Dialog(s, ADV, PEER, 5060, "alice", "bob", "cancel@ctlua")
    code, text = invite_until_final(d, 41100)
    ok &= code == 180
    d.request("CANCEL", cseq=d.cseq)
    text, _ = recv(s, " 487 ")
    d.request("ACK", cseq=d.cseq, to_tag=";tag=" + header(text, "To").split("tag=")[1])
    d = Dialog(s, ADV, PEER, 5060, "alice", "bob", "reinvite@ctlua")
    for media in (41200, 41300):
        code, text = invite_until_final(d, media)
        ok &= code == 200
        totag = ";tag=" + header(text, "To").split("tag=")[1]
        d.request("ACK", cseq=d.cseq, to_tag=totag)
    d.request("BYE", to_tag=totag)
    recv(s, "BYE")
    print("sipua: client teardown %s" % ("done" if ok else "FAILED"), flush=True)
    return 0 if ok else 1


def server_teardown():
    s = sock(5060)
    s.settimeout(None)
    d = Dialog(s, ME, PEER, 5062, "bob", "alice", "")
    invites = 0
    while True:
        text, src = s.recvfrom(65535)
        text = text.decode(errors="replace")
        note(text)
        method = text.split(" ", 1)[0]
        if method == "REGISTER":
            d.respond(text, src, 401, "Unauthorized")
        elif method == "INVITE":
            invites += 1
            if invites == 1:
                d.respond(text, src, 486, "Busy Here")
            elif invites == 2:
                d.respond(text, src, 180, "Ringing")
                cancel, csrc = recv(s, "CANCEL")
                d.respond(cancel, csrc, 200, "OK")
                d.respond(text, src, 487, "Request Terminated")
            else:
                d.respond(text, src, 200, "OK", sdp(ME, 31000 + 100 * invites))
        elif method == "BYE":
            d.respond(text, src, 200, "OK")
            return 0


if TEARDOWN:
    sys.exit(client_teardown() if ROLE == "client" else server_teardown())
sys.exit(client() if ROLE == "client" else server())
