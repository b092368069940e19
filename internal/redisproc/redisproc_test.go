package redisproc

import (
	"errors"
	"net"
	"testing"
	"time"
)

// TestStartAnswersAndStops: the server answers PING on loopback, and after Stop nothing
// listens on its address.
func TestStartAnswersAndStops(t *testing.T) {
	s, err := Start(t.Context(), t.TempDir())
	if errors.Is(err, ErrNotFound) {
		t.Skip("redis-server not on PATH (.ci/run installs it)")
	}
	if err != nil {
		t.Fatal(err)
	}
	if !s.ping() {
		t.Fatal("no PONG")
	}
	s.Stop()
	if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		c.Close()
		t.Fatal("redis-server still listening after Stop")
	}
}
