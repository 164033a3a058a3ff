package bindings_test

import (
	"strings"
	"testing"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
)

func TestNATReplaceMany(t *testing.T) {
	natted := *v4conn
	natted.Status |= engine.StatusSrcNAT
	tests := []struct {
		name, body, payload, err string
		conn                     *engine.Conn
	}{
		{"positions of the original payload, any order", `assert(nat.replace_many(pkt, {
      { pkt:find("World") and 7, 11, "Lua Helpers" }, { 1, 5, "Howdy" }, { 14, 13, "[" }, { 22, 21, "]" } }))`,
			"Howdy Lua Helpers\r\n[line two]\r\npartial", "", &natted},
		{"after nat.replace, in its result", `assert(nat.replace(pkt, 1, 5, "Hi"))
      assert(nat.replace_many(pkt, { { 4, 8, "all" } }))`, "Hi all\r\nline two\r\npartial", "", &natted},
		{"overlap", `assert(nat.replace_many(pkt, { { 1, 5, "a" }, { 5, 6, "b" } }))`, "", "overlap", &natted},
		{"out of range", `assert(nat.replace_many(pkt, { { 1, 500, "a" } }))`, "", "range 1..500", &natted},
		{"bad entry", `assert(nat.replace_many(pkt, { { 1, 2 } }))`, "", "{i, j, bytes}", &natted},
		{"TCP length change without NAT", `assert(nat.replace_many(pkt, { { 1, 5, "Hi" } }))`, "", "not NAT'ed", v4conn},
		{"same length without NAT", `assert(nat.replace_many(pkt, { { 1, 5, "HELLO" }, { 7, 11, "WORLD" } }))`,
			"HELLO WORLD\r\nline two\r\npartial", "", v4conn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := run(t, tt.body, v4pkt, tt.conn)
			if tt.err != "" {
				if d.Err == nil || !strings.Contains(d.Err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", d.Err, tt.err)
				}
				return
			}
			if d.Err != nil {
				t.Fatal(d.Err)
			}
			p, err := engine.ParsePacket(d.Packet)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(p.Payload()); got != tt.payload {
				t.Errorf("payload %q, want %q", got, tt.payload)
			}
			if !enginetest.Checksums(d.Packet) {
				t.Error("bad checksums")
			}
		})
	}
}
