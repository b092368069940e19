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
