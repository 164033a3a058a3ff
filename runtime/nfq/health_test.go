package nfq

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/ctlua/ctlua/engine"
)

// failingLink fails every receive, as a socket the kernel closed would.
type failingLink struct{ *fakeLink }

func (failingLink) recv(*batch) error { return syscall.EIO }

func TestReceiving(t *testing.T) {
	e, err := engine.New(engine.Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	tests := []struct {
		name string
		out  link
		stop bool
		want bool
	}{
		{"serving", newFakeLink(), false, true},
		{"stopped", newFakeLink(), true, false},
		{"receive error", failingLink{newFakeLink()}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue(e, Config{Helper: "h", StopTimeout: time.Second}, tt.out)
			q.startLanes()
			go q.pump()
			if tt.stop {
				q.Stop()
			} else {
				defer q.Stop()
			}
			if _, failing := tt.out.(failingLink); failing {
				select {
				case err := <-q.Err():
					if !errors.Is(err, syscall.EIO) {
						t.Fatalf("Err: %v", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("no receive error reported")
				}
				<-q.pumped
			}
			if got := q.Receiving(); got != tt.want {
				t.Fatalf("Receiving() = %v, want %v", got, tt.want)
			}
		})
	}
}
