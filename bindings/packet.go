package bindings

import (
	"bytes"

	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

// openPacket registers the packet and reader types. The module table
// holds the packet methods as functions (packet.find(pkt, s) is
// pkt:find(s)) and reader(src [, init]) for reading strings with the same
// reader.
func openPacket(L *lua.LState, s *engine.Session) lua.LValue {
	mt := L.NewTypeMetatable(engine.PacketType)
	methods := L.SetFuncs(L.NewTable(), packetMethods)
	lineStart := L.NewFunction(func(L *lua.LState) int { return packetLineStart(L, s) })
	methods.RawSetString("line_start", lineStart)
	L.SetField(mt, "__index", methods)
	L.SetField(mt, "__tostring", L.NewFunction(func(L *lua.LState) int {
		p := checkPacket(L, 1)
		L.Push(lua.LString(p.Tuple().String()))
		return 1
	}))
	openReader(L)
	mod := L.SetFuncs(L.NewTable(), packetMethods)
	mod.RawSetString("line_start", lineStart)
	// packet.reader(src [, init]) reads a string or a packet's payload.
	mod.RawSetString("reader", L.NewFunction(func(L *lua.LState) int {
		b := CheckBytes(L, 1)
		return pushReader(L, b, Offset(len(b), optInt(L, 2, 1)))
	}))
	return mod
}

// packetLineStart is pkt:line_start(): true when the segment starts
// right after a newline of its direction, false when it continues a line,
// nil when no segment of its direction has ended a line yet. Only a helper
// that declared lines has the engine track them.
func packetLineStart(L *lua.LState, s *engine.Session) int {
	p := checkPacket(L, 1)
	c := call(L, s, "pkt:line_start")
	switch {
	case c.Packet != p:
		L.RaiseError("pkt:line_start: pkt is not the packet being handled")
	case !c.Helper.Spec.Lines:
		L.RaiseError("pkt:line_start: the helper does not track lines (declare lines = true)")
	}
	switch c.Line {
	case engine.LineStart:
		L.Push(lua.LTrue)
	case engine.LineInside:
		L.Push(lua.LFalse)
	default:
		L.Push(lua.LNil)
	}
	return 1
}

// checkPacket returns the packet argument n.
func checkPacket(L *lua.LState, n int) *engine.Packet {
	ud := L.CheckUserData(n)
	if p, ok := ud.Value.(*engine.Packet); ok {
		return p
	}
	if ud.Metatable == L.GetTypeMetatable(engine.PacketType) {
		L.RaiseError("packet used after its on_packet call returned")
	}
	L.ArgError(n, "packet expected")
	return nil
}

var packetMethods = map[string]lua.LGFunction{
	"dir": func(L *lua.LState) int {
		L.Push(dirValue(checkPacket(L, 1).Dir()))
		return 1
	},
	"is_reply": func(L *lua.LState) int {
		L.Push(lua.LBool(checkPacket(L, 1).Dir() == engine.Reply))
		return 1
	},
	"ctinfo": func(L *lua.LState) int {
		L.Push(ctinfoValue(checkPacket(L, 1).CTInfo))
		return 1
	},
	"l3": func(L *lua.LState) int {
		if checkPacket(L, 1).IsIPv6() {
			L.Push(lua.LString("ipv6"))
		} else {
			L.Push(lua.LString("ipv4"))
		}
		return 1
	},
	"l4": func(L *lua.LState) int {
		L.Push(lua.LString(engine.ProtoName(checkPacket(L, 1).Proto)))
		return 1
	},
	"src": func(L *lua.LState) int {
		L.Push(lua.LString(checkPacket(L, 1).Src.String()))
		return 1
	},
	"dst": func(L *lua.LState) int {
		L.Push(lua.LString(checkPacket(L, 1).Dst.String()))
		return 1
	},
	"sport": func(L *lua.LState) int {
		L.Push(lua.LNumber(checkPacket(L, 1).SrcPort))
		return 1
	},
	"dport": func(L *lua.LState) int {
		L.Push(lua.LNumber(checkPacket(L, 1).DstPort))
		return 1
	},
	"seq": func(L *lua.LState) int {
		L.Push(lua.LNumber(checkPacket(L, 1).Seq))
		return 1
	},
	"ack": func(L *lua.LState) int {
		L.Push(lua.LNumber(checkPacket(L, 1).Ack))
		return 1
	},
	"tcp_flags": func(L *lua.LState) int {
		L.Push(lua.LNumber(checkPacket(L, 1).TCPFlags))
		return 1
	},
	"has_flag": func(L *lua.LState) int {
		p := checkPacket(L, 1)
		f, ok := tcpFlags[L.CheckString(2)]
		if !ok {
			L.ArgError(2, "flag must be fin, syn, rst, psh, ack or urg")
		}
		L.Push(lua.LBool(p.TCPFlags&f != 0))
		return 1
	},
	"len": func(L *lua.LState) int {
		p := checkPacket(L, 1)
		L.Push(number(len(p.Data) - p.PayloadOff))
		return 1
	},
	"payload": func(L *lua.LState) int {
		L.Push(lua.LString(checkPacket(L, 1).Payload()))
		return 1
	},
	"sub": func(L *lua.LState) int {
		b := checkPacket(L, 1).Payload()
		lo, hi := SubRange(len(b), optInt(L, 2, 1), optInt(L, 3, -1))
		L.Push(lua.LString(b[lo:hi]))
		return 1
	},
	"byte": func(L *lua.LState) int {
		b := checkPacket(L, 1).Payload()
		off := Offset(len(b), optInt(L, 2, 1))
		if off < 0 || off >= len(b) {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(number(int(b[off])))
		return 1
	},
	"prefix":  func(L *lua.LState) int { return prefix(L, false) },
	"iprefix": func(L *lua.LState) int { return prefix(L, true) },
	"find": func(L *lua.LState) int {
		b := checkPacket(L, 1).Payload()
		needle := L.CheckString(2)
		off := max(Offset(len(b), optInt(L, 3, 1)), 0)
		if off > len(b) {
			L.Push(lua.LNil)
			return 1
		}
		i := bytes.Index(b[off:], []byte(needle))
		if i < 0 {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LNumber(off + i + 1))
		L.Push(lua.LNumber(off + i + len(needle)))
		return 2
	},
	"line": func(L *lua.LState) int {
		b := checkPacket(L, 1).Payload()
		line, next, ok := LineAt(b, Offset(len(b), optInt(L, 2, 1)))
		if !ok {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LString(line))
		L.Push(lua.LNumber(next + 1))
		return 2
	},
	"lines": func(L *lua.LState) int {
		b := checkPacket(L, 1).Payload()
		off := 0
		L.Push(L.NewFunction(func(L *lua.LState) int {
			line, next, ok := LineAt(b, off)
			if !ok {
				return 0
			}
			off = next
			L.Push(lua.LString(line))
			L.Push(lua.LNumber(next + 1))
			return 2
		}))
		return 1
	},
	"reader": func(L *lua.LState) int {
		p := checkPacket(L, 1)
		b := p.Payload()
		return pushReader(L, b, Offset(len(b), optInt(L, 2, 1)))
	},
}

// Offset converts a 1-based Lua position to a 0-based offset into n
// bytes, the way string.find reads its init argument: a negative position
// counts from the end (-1 is the last byte) and 0 means 1. The result may
// lie outside [0, n]; callers check.
func Offset(n, pos int) int {
	switch {
	case pos > 0:
		return pos - 1
	case pos == 0:
		return 0
	default:
		return max(n+pos, 0)
	}
}

// SubRange converts the 1-based inclusive range i..j of string.sub to the
// 0-based half-open range [lo, hi) of n bytes, clamped like string.sub:
// negative positions count from the end and an empty range gives lo == hi.
func SubRange(n, i, j int) (lo, hi int) {
	if i < 0 {
		i = max(n+i+1, 1)
	} else if i == 0 {
		i = 1
	}
	if j < 0 {
		j = n + j + 1
	} else if j > n {
		j = n
	}
	if i > j {
		return 0, 0
	}
	return i - 1, j
}

var tcpFlags = map[string]uint8{
	"fin": engine.TCPFin, "syn": engine.TCPSyn, "rst": engine.TCPRst,
	"psh": engine.TCPPsh, "ack": engine.TCPAck, "urg": engine.TCPUrg,
}

// prefix implements pkt:prefix(s [, init]) and pkt:iprefix(s [, init]):
// whether the payload has s at position init (default 1).
func prefix(L *lua.LState, fold bool) int {
	b := checkPacket(L, 1).Payload()
	s := L.CheckString(2)
	off := Offset(len(b), optInt(L, 3, 1))
	if off < 0 || off+len(s) > len(b) {
		L.Push(lua.LFalse)
		return 1
	}
	got := b[off : off+len(s)]
	if fold {
		L.Push(lua.LBool(equalFold(got, s)))
	} else {
		L.Push(lua.LBool(string(got) == s))
	}
	return 1
}

// equalFold compares ASCII case-insensitively without allocating.
func equalFold(b []byte, s string) bool {
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// LineAt returns the line of b starting at off without its "\n" or
// "\r\n", and the offset after the line end. ok is false when no "\n"
// follows.
func LineAt(b []byte, off int) (line []byte, next int, ok bool) {
	if off < 0 || off >= len(b) {
		return nil, off, false
	}
	i := bytes.IndexByte(b[off:], '\n')
	if i < 0 {
		return nil, off, false
	}
	line = b[off : off+i]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, off + i + 1, true
}
