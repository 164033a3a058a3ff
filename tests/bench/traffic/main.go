// Command traffic makes and counts the benchmark's traffic
// (tests/bench/run.sh): one UDP flow of TFTP DATA packets, or one TCP
// connection carrying FTP control lines that are not commands, one line per
// segment.
//
//	traffic udp-send ADDR SIZE THREADS SECONDS
//	                                     send as fast as it can, one flow
//	traffic udp-recv ADDR SECONDS        count what arrives
//	traffic tcp-send ADDR SIZE SECONDS   one connection, one line a segment
//	traffic tcp-recv ADDR SIZE SECONDS   accept one connection, count lines
//
// Each prints one line, "sent N" or "received N" (N packets or lines),
// when it ends. Receivers end SECONDS after they start, when the sender
// closes (TCP), or a second after the last packet (UDP).
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "traffic:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 3 {
		return errors.New("usage: traffic udp-send ADDR SIZE THREADS SECONDS | tcp-send|tcp-recv ADDR SIZE SECONDS | udp-recv ADDR SECONDS")
	}
	last, err := strconv.ParseFloat(args[len(args)-1], 64)
	if err != nil || last <= 0 {
		return fmt.Errorf("SECONDS must be a positive number, not %q", args[len(args)-1])
	}
	d := time.Duration(last * float64(time.Second))
	if argc := map[string]int{"udp-recv": 3, "udp-send": 5, "tcp-send": 4, "tcp-recv": 4}[args[0]]; argc != len(args) {
		return fmt.Errorf("unknown command or wrong arguments: %q", args)
	}
	if args[0] == "udp-recv" {
		return udpRecv(args[1], d)
	}
	size, err := strconv.Atoi(args[2])
	if err != nil || size < 8 || size > 1400 {
		return fmt.Errorf("SIZE must be 8..1400 bytes, not %q", args[2])
	}
	switch args[0] {
	case "udp-send":
		threads, err := strconv.Atoi(args[3])
		if err != nil || threads < 1 || threads > 16 {
			return fmt.Errorf("THREADS must be 1..16, not %q", args[3])
		}
		return udpSend(args[1], size, threads, d)
	case "tcp-send":
		return tcpSend(args[1], size, d)
	}
	return tcpRecv(args[1], size, d)
}

// tftpData is a TFTP DATA packet (opcode 3, block 1) of size bytes.
func tftpData(size int) []byte {
	p := bytes.Repeat([]byte{'x'}, size)
	copy(p, []byte{0, 3, 0, 1})
	return p
}

// ftpLine is a line of size bytes, ending in CRLF, that no FTP helper
// takes for a command or a reply it acts on.
func ftpLine(size int) []byte {
	p := bytes.Repeat([]byte{'x'}, size)
	copy(p, "NOOP ")
	copy(p[size-2:], "\r\n")
	return p
}

// batch is how many datagrams one sendmmsg or recvmmsg carries: the
// sender and the receiver share the VM's CPUs with the contender, and a
// system call per packet would make them, not the contender, set the rate.
const batch = 32

// udpSend sends from threads goroutines, each with its own descriptor of
// one connected socket: one flow, and a sender that can use more than one
// CPU, so that the contender, not the sender, sets the rate.
func udpSend(addr string, size, threads int, d time.Duration) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	f, err := c.(*net.UDPConn).File()
	if err != nil {
		return err
	}
	defer f.Close()
	p := tftpData(size)
	end := time.Now().Add(d)
	sent := make(chan int)
	for t := 0; t < threads; t++ {
		conn := c
		if t > 0 {
			if conn, err = net.FileConn(f); err != nil {
				return err
			}
			defer conn.Close()
		}
		go func() { sent <- udpFlood(ipv4.NewPacketConn(conn.(*net.UDPConn)), p, end) }()
	}
	n := 0
	for t := 0; t < threads; t++ {
		n += <-sent
	}
	fmt.Println("sent", n)
	return nil
}

// udpFlood sends p in batches until end and returns how many it sent.
func udpFlood(pc *ipv4.PacketConn, p []byte, end time.Time) int {
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{p}
	}
	n := 0
	for time.Now().Before(end) {
		for i := 0; i < 4; i++ {
			// ENOBUFS and ECONNREFUSED are the flood's, not errors: the
			// message that met one is not counted, the next call goes on.
			k, _ := pc.WriteBatch(msgs, 0)
			n += k
		}
	}
	return n
}

func udpRecv(addr string, d time.Duration) error {
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	pc := ipv4.NewPacketConn(c)
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	// It ends at d, or a second after the last packet.
	end := time.Now().Add(d)
	n := 0
	for {
		next := end
		if n > 0 {
			next = time.Now().Add(time.Second)
		}
		if err := c.SetReadDeadline(next); err != nil {
			return err
		}
		k, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			return err
		}
		n += k
	}
	fmt.Println("received", n)
	return nil
}

// tcpSend writes lines on one connection whose segments carry at most one
// line: TCP_MAXSEG is the line's size and Nagle is off.
func tcpSend(addr string, size int, d time.Duration) error {
	dialer := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG, size)
		})
		return errors.Join(err, serr)
	}}
	c, err := dialer.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	p := ftpLine(size)
	n := 0
	for end := time.Now().Add(d); time.Now().Before(end); n++ {
		if _, err := c.Write(p); err != nil {
			return err
		}
	}
	fmt.Println("sent", n)
	return nil
}

func tcpRecv(addr string, size int, d time.Duration) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer l.Close()
	end := time.Now().Add(d)
	if err := l.(*net.TCPListener).SetDeadline(end); err != nil {
		return err
	}
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetReadDeadline(end); err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, c)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	fmt.Println("received", n/int64(size))
	return nil
}
