package nfq

import (
	"encoding/binary"

	"github.com/ctlua/ctlua/engine"
	"github.com/mdlayher/netlink"
)

// plainVerdictLen is the length of a plain verdict message (appendVerdict):
// header, nfgenmsg, NFQA_VERDICT_HDR.
const plainVerdictLen = nlmsgHdrLen + 4 + 12

// batchAccepts rewrites b, the receive loop's verdicts, so that its
// leading run of plain accepts (two or more) goes as one
// NFQNL_MSG_VERDICT_BATCH with the run's last packet ID: the kernel then
// accepts, in one message, every packet it holds for the queue up to that
// ID (nfqnl_recv_verdict_batch), which saves it the parsing and lookup of
// one message per packet. The verdicts after the run are left as they
// are, after it, so that no packet overtakes another.
//
// The caller must know that the run's packets are the only ones up to its
// last ID that the kernel still holds: none is unanswered in a lane or in
// a stuck call, or the batch would accept it too.
func batchAccepts(b []byte) []byte {
	run, last := 0, uint32(0)
	for off := 0; off+plainVerdictLen <= len(b); off += plainVerdictLen {
		id, ok := plainAccept(b[off : off+plainVerdictLen])
		if !ok || (run > 0 && int32(id-last) <= 0) {
			break
		}
		run, last = run+1, id
	}
	if run < 2 {
		return b
	}
	at := (run - 1) * plainVerdictLen
	binary.NativeEndian.PutUint16(b[at+4:], subsysQueue<<8|msgVerdictBatch)
	return b[:copy(b, b[at:])]
}

// plainAccept returns the packet ID of m when m is a plain accept as
// appendVerdict builds it, with nothing but the verdict.
func plainAccept(m []byte) (uint32, bool) {
	ne := binary.NativeEndian
	ok := ne.Uint32(m) == plainVerdictLen &&
		ne.Uint16(m[4:]) == subsysQueue<<8|msgVerdict &&
		ne.Uint16(m[6:]) == uint16(netlink.Request) &&
		m[20] == 12 && m[21] == 0 && m[22] == nfqaVerdictHdr && m[23] == 0 &&
		binary.BigEndian.Uint32(m[24:]) == uint32(engine.Accept)
	return binary.BigEndian.Uint32(m[28:]), ok
}
