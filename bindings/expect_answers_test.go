package bindings_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
)

// TestExpectAnswers: expect.answers is expect.create of the reply tuple
// with the source widened, permanent, each default replaceable.
func TestExpectAnswers(t *testing.T) {
	query := enginetest.Conn(3, "192.0.2.1", "192.0.2.255", 40000, 137, engine.ProtoUDP)
	qpkt := enginetest.Segment{Src: "192.0.2.1", Dst: "192.0.2.255", Proto: engine.ProtoUDP, SrcPort: 40000, DstPort: 137, Payload: "q"}.Packet(engine.CTNew)
	tests := []struct{ name, call, want string }{
		{"any host", `expect.answers()`,
			"udp 0.0.0.0:137 -> 192.0.2.1:40000 mask 0.0.0.0/65535 -> 255.255.255.255/65535 policy data flags 1"},
		{"any host of the subnet", `expect.answers{src_mask = "255.255.255.0"}`,
			"udp 192.0.2.255:137 -> 192.0.2.1:40000 mask 255.255.255.0/65535 -> 255.255.255.255/65535 policy data flags 1"},
		{"any port", `expect.answers{sport = "any", helper = "t", policy = "other"}`,
			"udp 0.0.0.0:* -> 192.0.2.1:40000 mask 0.0.0.0/0 -> 255.255.255.255/65535 policy other flags 1"},
		{"fields replaced", `expect.answers{src = "192.0.2.7", sport = 138, dport = 546, permanent = false, l4 = "tcp"}`,
			"tcp 192.0.2.7:138 -> 192.0.2.1:546 mask 255.255.255.255/65535 -> 255.255.255.255/65535 policy data flags 0"},
		{"src any", `expect.answers{src = "any"}`,
			"udp 0.0.0.0:137 -> 192.0.2.1:40000 mask 0.0.0.0/65535 -> 255.255.255.255/65535 policy data flags 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := run(t, `check(`+tt.call+`, "answers")`, qpkt, query)
			if d.Err != nil || len(d.Expectations) != 1 {
				t.Fatalf("err %v, %d expectations", d.Err, len(d.Expectations))
			}
			e := d.Expectations[0]
			if got := fmt.Sprintf("%s flags %d", e.String(), e.Flags); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestExpectAnswersErrors: what expect.answers refuses, and says why.
func TestExpectAnswersErrors(t *testing.T) {
	query := enginetest.Conn(3, "192.0.2.1", "224.0.0.251", 40000, 5353, engine.ProtoUDP)
	qpkt := enginetest.Segment{Src: "192.0.2.1", Dst: "224.0.0.251", Proto: engine.ProtoUDP, SrcPort: 40000, DstPort: 5353, Payload: "q"}.Packet(engine.CTNew)
	for _, tt := range []struct{ spec, want string }{
		{`{sport = "all"}`, `expect.answers: sport must be a port number or "any", got "all"`},
		{`{src = "any", src_mask = "255.255.255.0"}`, `expect.answers: src "any" and a src_mask`},
		{`{src_mask = "ffff::"}`, "not of the connection's family"},
		{`{colour = 1}`, "unknown field colour"},
	} {
		d := run(t, `local ok, err = expect.answers(`+tt.spec+`)
    check(ok == nil and err:find(`+fmt.Sprintf("%q", tt.want)+`, 1, true), "got " .. tostring(err))`, qpkt, query)
		if d.Err != nil {
			t.Errorf("%s: %v", tt.spec, d.Err)
		}
		if len(d.Expectations) != 0 {
			t.Errorf("%s: %d expectations", tt.spec, len(d.Expectations))
		}
	}
	if d := run(t, `expect.answers(3)`, qpkt, query); d.Err == nil || !strings.Contains(d.Err.Error(), "table expected") {
		t.Errorf("a number as spec: %v", d.Err)
	}
}
