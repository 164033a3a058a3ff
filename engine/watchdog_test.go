package engine

import (
	"errors"
	"testing"
	"time"
)

// TestWatchdogSleepsAndWakes: with no call running the watchdog sleeps;
// a runaway call that starts then is still stopped within 1.25 budgets
// (plus scheduling slack), and the watchdog sleeps again afterwards.
func TestWatchdogSleepsAndWakes(t *testing.T) {
	const budget = 20 * time.Millisecond
	e, err := New(Config{Workers: 1, Budget: budget})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	src := `return { name = "x", l4 = "tcp", policies = {{name = "p", max_expected = 1, timeout = 1}},
  on_packet = function() while true do end end }`
	if _, err := e.Load("x.lua", []byte(src), nil); err != nil {
		t.Fatal(err)
	}
	asleep := func() bool {
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			if e.dog.Asleep() {
				return true
			}
			time.Sleep(budget / 4)
		}
		return false
	}
	if !asleep() {
		t.Fatal("the watchdog did not go to sleep with no call running")
	}
	conn := &Conn{ID: 1}
	pkt := &Packet{Data: []byte("x"), Proto: ProtoTCP, CTInfo: CTEstablished} // one byte of payload
	start := time.Now()
	done := make(chan Decision, 1)
	go func() { done <- e.Handle("x", pkt, conn) }()
	var d Decision
	select {
	case d = <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("the runaway call was not stopped: the watchdog slept through it")
	}
	took := time.Since(start)
	var se *ScriptError
	if !errors.As(d.Err, &se) || se.Kind != KindTimeout {
		t.Fatalf("error %v, want a timeout", d.Err)
	}
	if took > 10*budget {
		t.Errorf("the runaway call ran %v with a budget of %v", took, budget)
	}
	if !asleep() {
		t.Fatal("the watchdog did not go back to sleep")
	}
}
