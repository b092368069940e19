package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// diskSync is the latency of the audit disk alone: what a group commit of one or two
// records costs when nothing else waits on the disk, the floor under (f2)'s tail.
type diskSync struct {
	n, bytes       int
	p50, p99, p999 float64 // µs
}

// measureDiskSync writes size bytes and fsyncs, n times one after another, in a file in
// dir — the file system the govgate rows keep their audit log on.
func measureDiskSync(dir string, n, size int) (diskSync, error) {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return diskSync{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, size)
	hist := hdrhistogram.New(1, 10_000_000, 3) // µs
	for i := range n {
		start := time.Now()
		if _, err := f.WriteAt(buf, int64(i*size)); err != nil {
			return diskSync{}, fmt.Errorf("fsync probe %s: %w", filepath.Base(f.Name()), err)
		}
		if err := f.Sync(); err != nil {
			return diskSync{}, fmt.Errorf("fsync probe %s: %w", filepath.Base(f.Name()), err)
		}
		hist.RecordValue(time.Since(start).Microseconds())
	}
	return diskSync{n: n, bytes: size, p50: float64(hist.ValueAtQuantile(50)), p99: float64(hist.ValueAtQuantile(99)),
		p999: float64(hist.ValueAtQuantile(99.9))}, nil
}

// String is the probe for a run's log line; empty when there was none.
func (d *diskSync) String() string {
	if d == nil {
		return ""
	}
	return fmt.Sprintf("  disk alone just before: p50 %.0f µs p99 %.0f µs", d.p50, d.p99)
}

// besideProbes is how many syncs the probe before each open-loop audit run makes: enough
// for a p99, short enough (a fraction of a second) not to change the run after it.
const besideProbes = 300

// diskBeside probes the audit disk just before an open-loop run of a row with an audit
// log. The disk is shared with the rest of the machine: its p99 moved between 1 ms and
// 12 ms from one minute to the next while issue 16's tail was measured, so the row's tail
// is set against the disk as it was for that run, not only as it was before the rows.
func (b *bench) diskBeside(procs []*proc, ld load) (*diskSync, error) {
	if ld.rate == 0 || !hasCommits(procs) {
		return nil, nil
	}
	d, err := measureDiskSync(b.dir, besideProbes, 1024)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

func hasCommits(procs []*proc) bool {
	for _, p := range procs {
		if p.commits != "" {
			return true
		}
	}
	return false
}
