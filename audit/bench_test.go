package audit

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
)

// BenchmarkAppend measures durable appends per second from 256 concurrent appenders with
// group commit, against the same records written with one fsync each (what a log without
// group commit does) in the same run.
func BenchmarkAppend(b *testing.B) {
	b.Run("group-commit", func(b *testing.B) {
		l := openTestLog(b, b.TempDir(), testSigner(b, "bench-audit"), Options{})
		defer l.Close()
		b.SetParallelism(128)
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := l.Append(context.Background(), testRecord(i)); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	})
	b.Run("fsync-per-record", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "seg"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		rec := testRecord(1).Encode()
		start := time.Now()
		for b.Loop() {
			if _, err := f.Write(appendFrame(nil, rec)); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	})
}

// BenchmarkAppendLatency offers 10,000 records a second, open loop, and reports the
// latency of each append from the moment it was due.
func BenchmarkAppendLatency(b *testing.B) {
	l := openTestLog(b, b.TempDir(), testSigner(b, "bench-audit"), Options{})
	defer l.Close()
	const rate = 10000
	n := max(b.N, 2*rate)
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	b.ResetTimer()
	for i := range n {
		due := start.Add(time.Duration(i) * time.Second / rate)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.Append(context.Background(), testRecord(i)); err != nil {
				b.Error(err)
			}
			lat[i] = time.Since(due)
		}()
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[n/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[n*99/100].Microseconds()), "p99-µs")
}

// BenchmarkVerify measures offline verification of a 100,000-record log.
func BenchmarkVerify(b *testing.B) {
	dir := b.TempDir()
	l := openTestLog(b, dir, testSigner(b, "bench-audit"), Options{})
	appendN(b, l, 100000, 256)
	l.Close()
	keys := loadKeys(b, dir)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := Verify(dir, keys); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*100000/time.Since(start).Seconds(), "records/s")
}

// BenchmarkProof10M builds the stored tree of a 10,000,000-record log (nodes only: a
// proof needs no record) and measures inclusion and consistency proofs in it.
func BenchmarkProof10M(b *testing.B) {
	const n = 10_000_000
	dir := b.TempDir()
	f, err := os.Create(filepath.Join(dir, "tree.hashes"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rng := treeFactory.NewEmptyRange(0)
	var nodes nodeBatch
	leaf := make([]byte, 8)
	for i := range uint64(n) {
		binary.BigEndian.PutUint64(leaf, i)
		rng.Append(Hasher{}.HashLeaf(leaf), nodes.visit)
		if len(nodes.buf) > 1<<20 {
			f.Write(nodes.buf)
			nodes.buf = nodes.buf[:0]
		}
	}
	f.Write(nodes.buf)
	store := nodeStore{f: f}
	b.Run("inclusion", func(b *testing.B) {
		i := uint64(0)
		for b.Loop() {
			if _, err := store.inclusion(i%n, n); err != nil {
				b.Fatal(err)
			}
			i += 7919
		}
	})
	b.Run("consistency", func(b *testing.B) {
		i := uint64(1)
		for b.Loop() {
			if _, err := store.consistency(i%n, n); err != nil {
				b.Fatal(err)
			}
			i += 7919
		}
	})
	_ = compact.NodeID{}
}
