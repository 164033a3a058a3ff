package replay

import (
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// A PcapWriter writes raw IP packets (IPv4 or IPv6, link type RAW) to a
// pcap file that Wireshark and tcpdump open and that Run replays.
type PcapWriter struct{ w *pcapgo.Writer }

// NewPcapWriter writes the pcap file header to w.
func NewPcapWriter(w io.Writer) (*PcapWriter, error) {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		return nil, fmt.Errorf("pcap: file header: %w", err)
	}
	return &PcapWriter{w: pw}, nil
}

// Write appends one IP packet captured at ts.
func (p *PcapWriter) Write(ts time.Time, ip []byte) error {
	ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(ip), Length: len(ip)}
	if err := p.w.WritePacket(ci, ip); err != nil {
		return fmt.Errorf("pcap: %w", err)
	}
	return nil
}
