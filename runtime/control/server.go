package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// A Request is what a client asks.
type Request struct {
	// Cmd is "status" or "reload".
	Cmd string `json:"cmd"`
	// Helper names the helper to reload; empty reloads every helper.
	Helper string `json:"helper,omitempty"`
}

// A Response is the daemon's answer: one of its fields is set.
type Response struct {
	Status *Status        `json:"status,omitempty"`
	Reload []ReloadResult `json:"reload,omitempty"`
	Error  string         `json:"error,omitempty"`
}

// A Backend answers the requests: the daemon.
type Backend interface {
	Status() Status
	// Reload reloads the named helper, or every helper for "", and says
	// for each whether its new version loaded. It fails for an unknown
	// name.
	Reload(helper string) ([]ReloadResult, error)
}

// maxRequest bounds a request line.
const maxRequest = 4096

// ioTimeout bounds reading a request and writing its answer; a reload
// runs between the two, without bound here (the engine bounds it).
const ioTimeout = 10 * time.Second

// A Server serves the control socket.
type Server struct {
	ln   *net.UnixListener
	path string
	wg   sync.WaitGroup
}

// Listen creates the control socket at path, with the parent directory
// if missing (mode 0755). The socket gets mode 0600, or 0660 owned by
// group gid when gid >= 0. A socket file left by a daemon that is gone is
// replaced; one a live daemon answers on is an error.
func Listen(path string, gid int) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	mode := os.FileMode(0o600)
	if gid >= 0 {
		mode = 0o660
		if err = os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("control socket: %w", err)
		}
	}
	if err = os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &Server{ln: ln, path: path}, nil
}

// removeStale removes a socket file nobody answers on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("control socket: %s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("control socket: %s: another daemon answers there", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	return nil
}

// Path returns the socket's path.
func (s *Server) Path() string { return s.path }

// Serve answers connections with b until Close. It returns at once; each
// connection is served on its own goroutine.
func (s *Server) Serve(b Backend) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.ln.AcceptUnix()
			if err != nil {
				return // closed
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				serveConn(c, b)
			}()
		}
	}()
}

// Close stops accepting, removes the socket file and waits for the
// connections being answered.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func serveConn(c *net.UnixConn, b Backend) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	r := bufio.NewReaderSize(c, maxRequest)
	line, err := r.ReadSlice('\n')
	var resp Response
	if err != nil {
		resp.Error = fmt.Sprintf("bad request: want one JSON line of at most %d bytes: %v", maxRequest, err)
	} else {
		resp = answer(line, b)
	}
	c.SetWriteDeadline(time.Now().Add(ioTimeout))
	json.NewEncoder(c).Encode(&resp)
}

// answer decodes one request line and asks b.
func answer(line []byte, b Backend) Response {
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		return Response{Error: fmt.Sprintf("bad request: %v", err)}
	}
	switch req.Cmd {
	case "status":
		st := b.Status()
		return Response{Status: &st}
	case "reload":
		rs, err := b.Reload(req.Helper)
		if err != nil {
			return Response{Error: err.Error()}
		}
		return Response{Reload: rs}
	default:
		return Response{Error: fmt.Sprintf("unknown command %q: want \"status\" or \"reload\"", req.Cmd)}
	}
}
