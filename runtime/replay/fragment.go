package replay

import (
	"encoding/binary"
	"net/netip"
)

// fragmentOf says whether ip is a fragment, and returns its datagram key,
// the headers a reassembled datagram keeps (the unfragmentable part, for
// IPv6 with the fragment header taken out), the fragment's offset and
// data, and whether more fragments follow.
func fragmentOf(ip []byte) (k fragKey, hdr []byte, off int, more bool, data []byte, ok bool) {
	if len(ip) >= 20 && ip[0]>>4 == 4 {
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		fo := binary.BigEndian.Uint16(ip[6:])
		if fo&0x3fff == 0 || ihl < 20 || total < ihl || total > len(ip) {
			return k, nil, 0, false, nil, false
		}
		k = fragKey{src: netip.AddrFrom4([4]byte(ip[12:16])), dst: netip.AddrFrom4([4]byte(ip[16:20])),
			id: uint32(binary.BigEndian.Uint16(ip[4:])), proto: ip[9]}
		return k, ip[:ihl], int(fo&0x1fff) * 8, fo&0x2000 != 0, ip[ihl:total], true
	}
	if len(ip) < 40 || ip[0]>>4 != 6 {
		return k, nil, 0, false, nil, false
	}
	total := 40 + int(binary.BigEndian.Uint16(ip[4:]))
	if total > len(ip) {
		return k, nil, 0, false, nil, false
	}
	prev, next, at := 6, ip[6], 40 // prev: where the next-header byte pointing at 'at' is
	for next == 0 || next == 43 || next == 60 {
		if at+8 > total {
			return k, nil, 0, false, nil, false
		}
		prev, next, at = at, ip[at], at+(int(ip[at+1])+1)*8
	}
	if next != 44 || at+8 > total {
		return k, nil, 0, false, nil, false
	}
	fh := ip[at : at+8]
	k = fragKey{src: netip.AddrFrom16([16]byte(ip[8:24])), dst: netip.AddrFrom16([16]byte(ip[24:40])),
		id: binary.BigEndian.Uint32(fh[4:]), v6: true}
	hdr = append([]byte{}, ip[:at]...)
	hdr[prev] = fh[0] // the header before the fragment header now points past it
	fo := binary.BigEndian.Uint16(fh[2:])
	return k, hdr, int(fo & 0xfff8), fo&1 != 0, ip[at+8 : total], true
}
