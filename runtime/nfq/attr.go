package nfq

// Netlink constants of nfnetlink_queue and ctnetlink used here
// (include/uapi/linux/netfilter/nfnetlink_queue.h, nfnetlink_conntrack.h).
const (
	subsysQueue     = 3
	msgVerdict      = 1
	msgVerdictBatch = 3 // NFQNL_MSG_VERDICT_BATCH
	subsysCTNL      = 1
	subsysCTNLExp   = 2
	msgExpNew       = 0
	msgExpGet       = 1
	msgExpDelete    = 2

	nfqaVerdictHdr = 2
	nfqaPayload    = 10
	nfqaCT         = 11
	nfqaExp        = 15

	ctaTupleOrig  = 1
	ctaTupleReply = 2
	ctaStatus     = 3
	ctaHelp       = 5
	ctaTimeout    = 7
	ctaMark       = 8
	ctaLabels     = 22
	ctaLabelsMask = 23

	ctaHelpName = 1
	ctaHelpInfo = 2

	ctaTupleIP    = 1
	ctaTupleProto = 2
	ctaIPv4Src    = 1
	ctaIPv4Dst    = 2
	ctaIPv6Src    = 3
	ctaIPv6Dst    = 4
	ctaProtoNum   = 1
	ctaProtoSrc   = 2
	ctaProtoDst   = 3

	ctaExpectMaster   = 1
	ctaExpectTuple    = 2
	ctaExpectMask     = 3
	ctaExpectHelpName = 6
	ctaExpectFlags    = 8
	ctaExpectClass    = 9
	ctaExpectNAT      = 10
	ctaExpectFn       = 11

	ctaExpectNATDir   = 1
	ctaExpectNATTuple = 2
)
