package bindings

import (
	"fmt"
	"sort"

	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

// An edit replaces the payload bytes off..off+n-1 by repl.
type edit struct {
	off, n int
	repl   string
}

// natReplaceMany implements nat.replace_many(pkt, edits): edits is a list
// of {i, j, bytes}, each like nat.replace's arguments and all in the
// positions of the payload before any of them (as rewritten by earlier
// calls), not overlapping, in any order. They are applied at once, so a
// helper that rewrites several fields of one message (SIP: URI, Via,
// Contact, SDP addresses and ports, Content-Length) needs not track how
// each rewrite shifts the next. It returns true, or nil, err when an edit
// is out of range or two overlap (then nothing is rewritten).
func natReplaceMany(s *engine.Session) lua.LGFunction {
	return func(L *lua.LState) int {
		p := checkPacket(L, 1)
		list := L.CheckTable(2)
		c := call(L, s, "nat.replace_many")
		if c.Packet != p {
			L.ArgError(1, "packet is not the packet being handled")
		}
		cur := *p
		if c.Decision.Packet != nil {
			cur.Data = c.Decision.Packet
		}
		payload := cur.Data[cur.PayloadOff:]
		edits, err := readEdits(list, len(payload))
		if err != nil {
			return fail(L, "nat.replace_many: %v", err)
		}
		if len(edits) == 0 {
			L.Push(lua.LTrue)
			return 1
		}
		out := make([]byte, 0, len(payload)+64)
		at, grow := 0, 0
		for _, e := range edits {
			out = append(append(out, payload[at:e.off]...), e.repl...)
			at = e.off + e.n
			grow += len(e.repl) - e.n
		}
		out = append(out, payload[at:]...)
		if p.Proto == engine.ProtoTCP && grow != 0 && !c.Conn.IsNAT() {
			return fail(L, "nat.replace_many: the edits change the length of a TCP segment on a connection that is not NAT'ed: the kernel cannot adjust its sequence numbers")
		}
		mangled, err := engine.Mangle(&cur, 0, len(payload), out)
		if err != nil {
			return fail(L, "nat.replace_many: %v", err)
		}
		c.Decision.Packet = mangled
		L.Push(lua.LTrue)
		return 1
	}
}

// readEdits reads and sorts the {i, j, bytes} entries of list against a
// payload of n bytes.
func readEdits(list *lua.LTable, n int) ([]edit, error) {
	var out []edit
	for k := 1; k <= list.Len(); k++ {
		t, ok := list.RawGetInt(k).(*lua.LTable)
		if !ok {
			return nil, fmt.Errorf("edit %d must be a table {i, j, bytes}, got %s", k, list.RawGetInt(k).Type())
		}
		i, iok := t.RawGetInt(1).(lua.LNumber)
		j, jok := t.RawGetInt(2).(lua.LNumber)
		r, rok := t.RawGetInt(3).(lua.LString)
		if !iok || !jok || !rok {
			return nil, fmt.Errorf("edit %d must be {i, j, bytes} with numbers i, j and a string", k)
		}
		if i < 1 || j < i-1 || int(j) > n {
			return nil, fmt.Errorf("edit %d: range %d..%d: want 1 <= i, i - 1 <= j <= %d (the payload's length)", k, int(i), int(j), n)
		}
		out = append(out, edit{off: int(i) - 1, n: int(j) - int(i) + 1, repl: string(r)})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].off < out[b].off })
	for k := 1; k < len(out); k++ {
		if prev := out[k-1]; out[k].off < prev.off+prev.n || (out[k].off == prev.off && prev.n == 0 && out[k].n == 0) {
			return nil, fmt.Errorf("edits at %d and %d overlap", prev.off+1, out[k].off+1)
		}
	}
	return out, nil
}
