package nfq

import (
	"fmt"

	"github.com/ctlua/ctlua/engine"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
)

// decodeConn decodes the NFQA_CT attribute of a queued packet into the
// engine's view of the connection. It reuses ti-mo/conntrack's decoder by
// wrapping the nested attributes in a ctnetlink message. It also returns
// the connection's TCP sequence adjustment per direction (zero when the
// kernel has none).
func decodeConn(family uint8, ct []byte) (*engine.Conn, [2]seqAdjust, error) {
	data := make([]byte, 0, 4+len(ct))
	data = append(data, family, 0, 0, 0)
	data = append(data, ct...)
	var ev conntrack.Event
	m := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(subsysCTNL << 8)}, Data: data}
	if err := ev.Unmarshal(m); err != nil {
		return nil, [2]seqAdjust{}, fmt.Errorf("decode NFQA_CT: %w", err)
	}
	f := ev.Flow
	adj := [2]seqAdjust{
		{Pos: f.SeqAdjOrig.Position, Before: int32(f.SeqAdjOrig.OffsetBefore), After: int32(f.SeqAdjOrig.OffsetAfter)},
		{Pos: f.SeqAdjReply.Position, Before: int32(f.SeqAdjReply.OffsetBefore), After: int32(f.SeqAdjReply.OffsetAfter)},
	}
	return flowConn(f), adj, nil
}

// flowConn converts a ti-mo/conntrack flow to the engine's view.
func flowConn(f *conntrack.Flow) *engine.Conn {
	c := &engine.Conn{
		ID:      f.ID,
		Orig:    tuple(f.TupleOrig),
		Reply:   tuple(f.TupleReply),
		Status:  engine.Status(f.Status),
		Mark:    f.Mark,
		Zone:    f.Zone,
		Timeout: f.Timeout,
		Helper:  f.Helper.Name,
		Private: f.Helper.Info,
		Labels:  f.Labels,
	}
	if f.TupleMaster.IP.SourceAddress.IsValid() {
		m := tuple(f.TupleMaster)
		c.Master = &m
	}
	return c
}

func tuple(t conntrack.Tuple) engine.Tuple {
	return engine.Tuple{
		Src:     t.IP.SourceAddress.Unmap(),
		Dst:     t.IP.DestinationAddress.Unmap(),
		Proto:   t.Proto.Protocol,
		SrcPort: t.Proto.SourcePort,
		DstPort: t.Proto.DestinationPort,
	}
}
