package gateway

import (
	"math"
	"os"
	"runtime/debug"
)

// RuntimeMemory is what SetRuntimeMemory left in force.
type RuntimeMemory struct {
	Limit     int64 // bytes; math.MaxInt64 when there is none
	GCPercent int
	// Overridden names the environment variables (GOMEMLIMIT, GOGC) that kept a setting
	// of the config from being applied, so that the operator is told which one is in
	// force: a config that says 128 MiB while the process runs under another limit would
	// otherwise mislead whoever sizes the machine.
	Overridden []string
}

// SetRuntimeMemory sets the Go runtime's soft memory limit and GOGC from the config's
// limits.memory_limit and limits.gc_percent, unless the environment sets GOMEMLIMIT (the
// operator's own setting wins, as with GOMAXPROCS in ReserveSyscallProc). Without a
// memory limit it changes nothing. A process calls it once, from main, before serving:
// the settings are the process's, not one gateway's.
//
// Why: at 2,000 keep-alive connections the live heap is large and the collector, at GOGC
// 100, runs often and long enough that its mark assist lands in the exchanges' latency
// tail; at GOGC 200 it runs half as often. Raising GOGC alone lets the heap grow with the
// load; under the limit the collector runs more often only when the heap nears it.
func SetRuntimeMemory(l Limits) RuntimeMemory {
	var overridden []string
	switch {
	case l.MemoryLimit == 0:
	case os.Getenv("GOMEMLIMIT") != "":
		overridden = append(overridden, "GOMEMLIMIT")
	default:
		debug.SetMemoryLimit(l.MemoryLimit)
		if l.GCPercent > 0 && os.Getenv("GOGC") != "" {
			overridden = append(overridden, "GOGC")
		} else if l.GCPercent > 0 {
			debug.SetGCPercent(l.GCPercent)
		}
	}
	limit := debug.SetMemoryLimit(-1)
	gc := debug.SetGCPercent(-1)
	debug.SetGCPercent(gc)
	return RuntimeMemory{Limit: limit, GCPercent: gc, Overridden: overridden}
}

// validateMemoryLimit refuses a memory limit the gateway would spend its time collecting
// under: the release budget's bytes in use stay on the heap until a collection, so the
// limit must exceed twice the budget plus the resident base and in-flight buffers.
func validateMemoryLimit(l Limits, add addFunc) {
	if l.MemoryLimit < 0 {
		add("limits.memory_limit", "must not be negative")
	}
	if l.GCPercent < 0 {
		add("limits.gc_percent", "must not be negative")
	}
	if l.GCPercent > 0 && l.MemoryLimit == 0 {
		add("limits.gc_percent", "applies only under limits.memory_limit (without a limit a higher GOGC lets the heap grow with the load): set limits.memory_limit too, or remove it")
	}
	if need := memoryLimitNeeded(l.ReleaseMemory); l.MemoryLimit > 0 && l.MemoryLimit < need {
		add("limits.memory_limit", "%d bytes leave the collector no room: want at least %d (twice limits.release_memory, %d, and %d for the resident base and the exchanges in flight)", l.MemoryLimit, need, l.ReleaseMemory, int64(minMemoryHeadroom))
	}
}

// memoryLimitNeeded is twice the release budget plus the headroom, saturated: a budget so
// large that twice it overflows must not make every limit look roomy.
func memoryLimitNeeded(releaseMemory int64) int64 {
	if releaseMemory > (math.MaxInt64-minMemoryHeadroom)/2 {
		return math.MaxInt64
	}
	return 2*releaseMemory + minMemoryHeadroom
}
