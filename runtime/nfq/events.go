package nfq

import (
	"context"
	"fmt"

	"github.com/ctlua/ctlua/engine"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
)

// ListenDestroyed calls forget with the key of every connection the
// kernel destroys in the network namespace netns (0: the current one),
// from ctnetlink destroy events, until ctx is done. Events the kernel
// could not deliver are lost without error (NETLINK_NO_ENOBUFS): their
// connections' states expire like idle ones. It returns when ctx is done
// (nil) or the event socket fails.
func ListenDestroyed(ctx context.Context, netns int, forget func(engine.ConnKey)) error {
	c, err := conntrack.Dial(&netlink.Config{NetNS: netns})
	if err != nil {
		return fmt.Errorf("ctnetlink events: %w", err)
	}
	defer c.Close()
	if err := c.SetOption(netlink.NoENOBUFS, true); err != nil {
		return fmt.Errorf("ctnetlink events: %w", err)
	}
	_ = c.SetReadBuffer(4 << 20) // best effort; the default works, with losses under load
	evs := make(chan conntrack.Event, 1024)
	errc, err := c.Listen(evs, 1, []netfilter.NetlinkGroup{netfilter.GroupCTDestroy})
	if err != nil {
		return fmt.Errorf("ctnetlink events: listen: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return fmt.Errorf("ctnetlink events: %w", err)
		case ev := <-evs:
			if k, ok := destroyedKey(ev); ok {
				forget(k)
			}
		}
	}
}

// destroyedKey returns the engine's state key of a destroyed connection.
func destroyedKey(ev conntrack.Event) (engine.ConnKey, bool) {
	if ev.Type != conntrack.EventDestroy || ev.Flow == nil {
		return engine.ConnKey{}, false
	}
	return engine.ConnKey{ID: ev.Flow.ID, Orig: tuple(ev.Flow.TupleOrig)}, true
}
