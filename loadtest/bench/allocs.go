package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"syscall"
)

// allocCounter is the heap allocation a server role made from the bench's SIGUSR2 — sent
// as the measured run starts — to its end: bytes and objects, which the bench divides
// by the run's exchanges. Unlike CPU, it does not depend on how busy the machine is.
type allocCounter struct {
	sig     chan os.Signal
	samples []metrics.Sample
	from    chan [2]uint64
}

func newAllocCounter() *allocCounter {
	c := &allocCounter{sig: make(chan os.Signal, 1), from: make(chan [2]uint64, 1),
		samples: []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/allocs:objects"}}}
	signal.Notify(c.sig, syscall.SIGUSR2)
	go func() {
		<-c.sig
		c.from <- c.read()
	}()
	return c
}

func (c *allocCounter) read() [2]uint64 {
	s := make([]metrics.Sample, len(c.samples))
	copy(s, c.samples)
	metrics.Read(s)
	return [2]uint64{s[0].Value.Uint64(), s[1].Value.Uint64()}
}

// write records the allocation since the signal into path; nothing when none came.
func (c *allocCounter) write(path string) {
	signal.Stop(c.sig)
	select {
	case from := <-c.from:
		now := c.read()
		os.WriteFile(path, fmt.Appendf(nil, "%d %d\n", now[0]-from[0], now[1]-from[1]), 0o644)
	default:
	}
}

func allocsFile(dir, addr string) string {
	return filepath.Join(dir, "allocs-"+addr[strings.LastIndex(addr, ":")+1:])
}

// readAllocs reads what write recorded.
func readAllocs(path string) (bytes, objects float64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	_, err = fmt.Sscan(string(b), &bytes, &objects)
	return bytes, objects, err
}
