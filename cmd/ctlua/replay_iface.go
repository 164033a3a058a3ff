package main

import "github.com/ctlua/ctlua/bindings"

// setReplayIfaces makes ctlua.iface answer from the --iface flags: a
// replay never reads the host's interfaces, whose addresses have nothing
// to do with the capture's. It returns a usage message on a bad flag.
func setReplayIfaces(flags []string) string {
	list := []bindings.IfaceAddr{}
	for _, f := range flags {
		a, err := bindings.ParseIfaceAddr(f)
		if err != nil {
			return "--iface: " + err.Error()
		}
		list = append(list, a)
	}
	bindings.SetInterfaces(list)
	return ""
}
