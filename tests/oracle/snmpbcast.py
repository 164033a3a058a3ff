#!/usr/bin/env python3
"""snmpbcast.py - SNMP discovery by broadcast, scripted from the protocol
(record-snmp.sh): net-snmp can do neither side (snmpget's sendto to a
broadcast address fails with EACCES, as it never sets SO_BROADCAST; snmpd
answers from the address the request was sent to, which fails for a
broadcast address: "send response: Failure in sendto").

  snmpbcast.py agent ADDR        answer GetRequests on 0.0.0.0:161 from
                                 a socket whose replies leave from ADDR
  snmpbcast.py get BROADCAST N   send N SNMPv2c GetRequests (public,
                                 sysDescr.0) and print every answer

The agent answers a GetRequest with the same message as a GetResponse
whose value is an OCTET STRING naming ADDR.
"""
import socket, sys, time

def get_request(reqid):
    oid = bytes([0x06, 0x08, 0x2b, 6, 1, 2, 1, 1, 1, 0])  # 1.3.6.1.2.1.1.1.0
    vb = bytes([0x30, len(oid) + 2]) + oid + bytes([0x05, 0x00])
    vbl = bytes([0x30, len(vb)]) + vb
    body = bytes([0x02, 0x02, reqid >> 8, reqid & 0xff, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]) + vbl
    pdu = bytes([0xa0, len(body)]) + body
    msg = bytes([0x02, 0x01, 0x01, 0x04, 0x06]) + b"public" + pdu
    return bytes([0x30, len(msg)]) + msg

def response(req, text):
    # the request's layout is ours: swap the PDU tag, put a string value
    i = req.index(b"public") + 6
    reqid = req[i + 4:i + 6]
    oid = bytes([0x06, 0x08, 0x2b, 6, 1, 2, 1, 1, 1, 0])
    val = bytes([0x04, len(text)]) + text
    vb = bytes([0x30, len(oid) + len(val)]) + oid + val
    vbl = bytes([0x30, len(vb)]) + vb
    body = bytes([0x02, 0x02]) + reqid + bytes([0x02, 0x01, 0x00, 0x02, 0x01, 0x00]) + vbl
    pdu = bytes([0xa2, len(body)]) + body
    msg = bytes([0x02, 0x01, 0x01, 0x04, 0x06]) + b"public" + pdu
    return bytes([0x30, len(msg)]) + msg

def agent(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 161))
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    out.bind((addr, 161))  # answers leave from the agent's own address
    print("ready", flush=True)
    while True:
        req, peer = s.recvfrom(4096)
        if b"public" in req:
            out.sendto(response(req, ("agent " + addr).encode()), peer)

def get(bcast, n):
    for k in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.settimeout(2)
        s.sendto(get_request(0x1200 + k), (bcast, 161))
        try:
            while True:
                d, peer = s.recvfrom(4096)
                print("answer from", peer[0], d[-16:].decode("latin-1"), flush=True)
        except socket.timeout:
            pass
        s.close()

if __name__ == "__main__":
    if sys.argv[1] == "agent":
        agent(sys.argv[2])
    else:
        get(sys.argv[2], int(sys.argv[3]))
