package redistest

import (
	"strings"
	"time"
)

// WaitLinked waits until s, started as a replica, has finished its first synchronisation
// with its master. Before that a master's WAIT counts no replica at all, however long it
// waits, so a test that writes and then waits for the write to be replicated would fail
// on a slow machine for a reason that is not the one it tests.
func (s *Server) WaitLinked(timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := s.Do("INFO", "replication")
		if err == nil && strings.Contains(out, "master_link_status:up") && !strings.Contains(out, "master_sync_in_progress:1") {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("replica %s not linked to its master after %s: %v\n%s", s.Addr, timeout, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
