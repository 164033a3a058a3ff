//go:build !linux

package bindings

import "errors"

// hostAddrs: only Linux has the interface data ctlua.iface reads.
func hostAddrs() ([]IfaceAddr, error) {
	return nil, errors.New("reading interface addresses needs Linux (rtnetlink)")
}
