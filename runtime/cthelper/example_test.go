package cthelper_test

import (
	"errors"
	"io/fs"
	"log"
	"time"

	"github.com/ctlua/ctlua/runtime/cthelper"
)

// This example registers a helper for FTP control connections, or updates
// it if a previous run of the daemon left it registered.
func Example() {
	c, err := cthelper.Dial(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	h := cthelper.Helper{
		Name:     "ctlua-ftp",
		L3:       cthelper.IPv4,
		L4:       cthelper.TCP,
		QueueNum: 1,
		Policies: []cthelper.Policy{{Name: "data", MaxExpected: 1, Timeout: 5 * time.Minute}},
		PrivSize: 8,
		Enabled:  true,
	}
	err = c.Create(h)
	if errors.Is(err, fs.ErrExist) {
		// Registered by an earlier run: take it over without disturbing
		// the connections that use it.
		err = c.Update(h)
	}
	if err != nil {
		// For example: kernel has no nfnetlink_cthelper (...); try
		// `modprobe nfnetlink_cthelper`.
		log.Fatal(err)
	}
}
