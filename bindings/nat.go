package bindings

import (
	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

// openNAT builds the nat module: payload rewriting with lengths and
// checksums fixed in Go.
func openNAT(L *lua.LState, s *engine.Session) lua.LValue {
	return L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"replace_many": natReplaceMany(s),
		// nat.replace(pkt, i, j, bytes) replaces the payload bytes i..j
		// (1-based, inclusive, what pkt:sub(i, j) returns, in the payload
		// as rewritten so far); j = i - 1 inserts before i.
		"replace": func(L *lua.LState) int {
			p := checkPacket(L, 1)
			i, j := L.CheckInt(2), L.CheckInt(3)
			repl := L.CheckString(4)
			c := call(L, s, "nat.replace")
			if c.Packet != p {
				L.ArgError(1, "packet is not the packet being handled")
			}
			if i < 1 || j < i-1 {
				return fail(L, "nat: range %d..%d: want 1 <= i and i - 1 <= j", i, j)
			}
			off, n := i-1, j-i+1
			if p.Proto == engine.ProtoTCP && len(repl) != n && !c.Conn.IsNAT() {
				return fail(L, "nat: replacing %d bytes by %d changes the length of a TCP segment on a connection that is not NAT'ed: the kernel cannot adjust its sequence numbers", n, len(repl))
			}
			cur := *p
			if c.Decision.Packet != nil {
				cur.Data = c.Decision.Packet
			}
			out, err := engine.Mangle(&cur, off, n, []byte(repl))
			if err != nil {
				return fail(L, "nat: %v", err)
			}
			c.Decision.Packet = out
			L.Push(lua.LTrue)
			return 1
		},
		// nat.payload() returns the payload as rewritten so far.
		"payload": func(L *lua.LState) int {
			c := call(L, s, "nat.payload")
			if c.Decision.Packet != nil {
				L.Push(lua.LString(c.Decision.Packet[c.Packet.PayloadOff:]))
			} else {
				L.Push(lua.LString(c.Packet.Payload()))
			}
			return 1
		},
	})
}
