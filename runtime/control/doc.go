// Package control is the daemon's control socket: a unix socket on which
// `ctlua status` asks for the daemon's state and `ctlua reload` for new
// versions of its scripts.
//
// The protocol is one JSON request per connection, one line, answered
// with one JSON line:
//
//	{"cmd":"status"}                  -> {"status":{...}}
//	{"cmd":"reload"}                  -> {"reload":[{"helper":"ftp","loaded":true,...}]}
//	{"cmd":"reload","helper":"tftp"}  -> {"reload":[...]}
//	anything else                     -> {"error":"..."}
//
// Who may connect is decided by the socket file's mode: 0600 (the
// daemon's user), or 0660 with a group.
package control
