package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// commitTimes records a govgate role's audit group commits, so that a row can say what its
// exchanges waited for during the measured run: the bench sends SIGUSR1 as that run
// begins (the role starts counting afresh) and reads the file the role writes as it stops.
type commitTimes struct {
	mu      sync.Mutex
	hist    *hdrhistogram.Histogram // µs, one count per record
	commits int64
}

// commitStats is what the role leaves behind.
type commitStats struct {
	commits, records int64
	p50, p99         float64 // µs, of the commits as the records in them waited on them
}

func newCommitTimes() *commitTimes {
	c := &commitTimes{hist: hdrhistogram.New(1, 10_000_000, 3)}
	reset := make(chan os.Signal, 1)
	signal.Notify(reset, syscall.SIGUSR1)
	go func() {
		for range reset {
			c.mu.Lock()
			c.hist.Reset()
			c.commits = 0
			c.mu.Unlock()
		}
	}()
	return c
}

// observe is the audit log's OnCommit. A commit counts once for each record in it: the
// distribution is the one exchanges waited on, where a slow commit that held twenty of
// them weighs twenty times.
func (c *commitTimes) observe(records int, took time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hist.RecordValues(took.Microseconds(), int64(records))
	c.commits++
}

func (c *commitTimes) write(path string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return os.WriteFile(path, fmt.Appendf(nil, "%d %d %d %d\n", c.commits, c.hist.TotalCount(), c.hist.ValueAtQuantile(50), c.hist.ValueAtQuantile(99)), 0o644)
}

// commitsFile is where the govgate role listening on addr writes its commit times.
func commitsFile(dir, addr string) string {
	return filepath.Join(dir, "commits-"+addr[strings.LastIndex(addr, ":")+1:])
}

func readCommitStats(path string) (*commitStats, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s commitStats
	if _, err := fmt.Sscan(string(b), &s.commits, &s.records, &s.p50, &s.p99); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}
