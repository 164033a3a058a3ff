package nfq

import (
	"errors"
	"fmt"

	"github.com/ctlua/ctlua/engine"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// Expectations implements engine.ExpectRemover: it dumps the
// expectations of master's family (IPCTNL_MSG_EXP_GET with NLM_F_DUMP)
// and keeps master's. Helper stays empty: ctnetlink reports the
// master's helper there, not the expected connection's.
func (x *Expecter) Expectations(master *engine.Conn) ([]engine.Expectation, error) {
	m := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysCTNLExp<<8 | msgExpGet), Flags: netlink.Request | netlink.Dump},
		Data:   nfgenmsg(tupleFamily(master.Orig), 0),
	}
	x.mu.Lock()
	msgs, err := x.c.Execute(m)
	x.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("ctnetlink: dump expectations: %w", err)
	}
	var out []engine.Expectation
	for _, m := range msgs {
		var ev conntrack.Event
		if err := ev.Unmarshal(m); err != nil || ev.Expect == nil {
			continue
		}
		if tuple(ev.Expect.TupleMaster) != master.Orig {
			continue
		}
		e := engine.Expectation{Tuple: tuple(ev.Expect.Tuple), Mask: tuple(ev.Expect.Mask),
			Class: ev.Expect.Class, Flags: engine.ExpectFlags(ev.Expect.Flags)}
		e.Mask.Proto = 0xff
		out = append(out, e)
	}
	return out, nil
}

// Unexpect implements engine.ExpectRemover with IPCTNL_MSG_EXP_DELETE by
// e's tuple; an expectation already gone (ENOENT) is not an error.
func (x *Expecter) Unexpect(_ *engine.Conn, e *engine.Expectation) error {
	err := x.execute(expectTupleMessage(msgExpDelete, e))
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("ctnetlink: delete expectation %s: %w", e, err)
	}
	return nil
}
