package nfq

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ctlua/ctlua/bindings"
	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/scripts"
	"github.com/ctlua/ctlua/stdlib"
)

// benchLink feeds the pump the same queued packet over and over, at most
// window packets ahead of their verdicts, and counts the verdicts.
type benchLink struct {
	msg      []byte
	tokens   chan struct{}
	total    int64
	given    int64
	verdicts atomic.Int64
	done     chan struct{}
	closed   chan struct{}
}

func newBenchLink(msg []byte, total int, window int) *benchLink {
	l := &benchLink{msg: msg, tokens: make(chan struct{}, window), total: int64(total),
		done: make(chan struct{}), closed: make(chan struct{})}
	for range window {
		l.tokens <- struct{}{}
	}
	return l
}

func (l *benchLink) recv(b *batch) error {
	b.n = 0
	for b.n < batchLen && l.given < l.total {
		if b.n == 0 {
			select {
			case <-l.tokens:
			case <-l.closed:
				return errClosed
			}
		} else {
			select {
			case <-l.tokens:
			default:
				return nil
			}
		}
		b.msgs[b.n] = l.msg
		b.n++
		l.given++
	}
	if b.n > 0 {
		return nil
	}
	<-l.closed
	return errClosed
}

func (l *benchLink) send(b []byte) error {
	n := int64(0)
	for len(b) >= nlmsgHdrLen {
		m := int(binary.NativeEndian.Uint32(b))
		b = b[(m+3)&^3:]
		n++
	}
	for range n {
		l.tokens <- struct{}{}
	}
	if l.verdicts.Add(n) == l.total {
		close(l.done)
	}
	return nil
}

func (l *benchLink) close() error { close(l.closed); return nil }

// BenchmarkPump measures the whole pump per packet, from the socket's
// batch to the verdict's write, against a fake netlink link: message
// parsing, NFQA_CT decoding, the lane, the engine, the verdict.
func BenchmarkPump(b *testing.B) {
	line := strings.Repeat("x", 98) + "\r\n"
	cases := []struct {
		name, helper, src, payload string
	}{
		{"pure-ack/ftp", "ftp", "", ""},
		{"line/ftp", "ftp", "", line},
		{"line/empty-lua", "h", `return {name = "h", l4 = "tcp", policies = {{name = "d", max_expected = 1, timeout = 1}},
  on_packet = function() end}`, line},
	}
	// flood: up to 128 packets ahead of their verdicts, in batches (the
	// lanes); closed: one packet at a time, like one TCP connection (the
	// packet runs inline on the receive loop).
	loads := []struct {
		name   string
		window int
	}{{"flood", 128}, {"closed", 1}}
	for _, c := range cases {
		for _, ld := range loads {
			for _, workers := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%s/workers=%d", c.name, ld.name, workers), func(b *testing.B) {
					benchPump(b, c.helper, c.src, c.payload, workers, ld.window)
				})
			}
		}
	}
}

func benchPump(b *testing.B, helper, src, payload string, workers, window int) {
	e, err := engine.New(engine.Config{Workers: workers, Modules: append(bindings.Default(), stdlib.Modules()...)})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	if src == "" {
		raw, err := scripts.FS.ReadFile(helper + "/helper.lua")
		if err != nil {
			b.Fatal(err)
		}
		src = string(raw)
	}
	if _, err := e.Load(helper+".lua", []byte(src), nil); err != nil {
		b.Fatal(err)
	}
	l := newBenchLink(packetMsg(b, helper, 1, 1, payload), b.N, window)
	q := newQueue(e, Config{Helper: helper}, l)
	q.startLanes()
	b.ReportAllocs()
	b.ResetTimer()
	go q.pump()
	<-l.done
	b.StopTimer()
	q.Stop()
	if st := q.Stats(); st.Overflows != 0 || st.Unparsable != 0 || st.Verdicts != uint64(b.N) {
		b.Fatalf("stats %+v: want %d verdicts, no overflows", st, b.N)
	}
}
