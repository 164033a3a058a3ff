package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"
)

// DefaultSocket is where the daemon listens unless configured otherwise.
const DefaultSocket = "/run/ctlua/ctlua.sock"

// Do sends req to the daemon listening at path and returns its answer.
// timeout bounds the whole exchange (a reload waits for the new version to
// load); an answer carrying an error is returned as that error.
func Do(path string, req Request, timeout time.Duration) (*Response, error) {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w (is the daemon running with socket = %q?)", path, err, path)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if err := json.NewEncoder(c).Encode(&req); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	var resp Response
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&resp); err != nil {
		return nil, fmt.Errorf("control socket %s: reading the answer: %w", path, err)
	}
	if resp.Error != "" {
		return nil, errors.New(resp.Error)
	}
	return &resp, nil
}

// GetStatus asks the daemon at path for its status.
func GetStatus(path string, timeout time.Duration) (*Status, error) {
	resp, err := Do(path, Request{Cmd: "status"}, timeout)
	if err != nil {
		return nil, err
	}
	if resp.Status == nil {
		return nil, fmt.Errorf("control socket %s: the answer has no status", path)
	}
	return resp.Status, nil
}

// Reload asks the daemon at path to reload helper ("" for all) and
// returns each helper's outcome.
func Reload(path, helper string, timeout time.Duration) ([]ReloadResult, error) {
	resp, err := Do(path, Request{Cmd: "reload", Helper: helper}, timeout)
	if err != nil {
		return nil, err
	}
	return resp.Reload, nil
}
