package nfq

// Receiving reports whether the queue's receive loop runs: true from
// Start until the loop ends, on a receive error (reported on Err) or on
// Stop. A loop deposed for a stuck call is replaced, so it stays true.
// The daemon pings systemd's watchdog only while every queue receives.
func (q *Queue) Receiving() bool {
	select {
	case <-q.pumped:
		return false
	default:
		return true
	}
}
