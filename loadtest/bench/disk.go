package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
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
	lat := make([]time.Duration, n)
	for i := range lat {
		start := time.Now()
		if _, err := f.WriteAt(buf, int64(i*size)); err != nil {
			return diskSync{}, fmt.Errorf("fsync probe %s: %w", filepath.Base(f.Name()), err)
		}
		if err := f.Sync(); err != nil {
			return diskSync{}, fmt.Errorf("fsync probe %s: %w", filepath.Base(f.Name()), err)
		}
		lat[i] = time.Since(start)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	at := func(q float64) float64 { return float64(lat[int(q*float64(n-1))].Microseconds()) }
	return diskSync{n: n, bytes: size, p50: at(0.5), p99: at(0.99), p999: at(0.999)}, nil
}
