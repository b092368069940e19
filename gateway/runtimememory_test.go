package gateway

import (
	"math"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// TestMemoryLimitConfig: limits.memory_limit is off by default (the runtime's own
// settings stay), brings gc_percent 200 with it when set, and a careless operator's limit
// that leaves the collector no room above the release budget — or a negative one — is
// refused with the field named.
func TestMemoryLimitConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(validYAML))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.MemoryLimit != 0 || cfg.Limits.GCPercent != 0 {
		t.Errorf("defaults without a limit: memory_limit %d, gc_percent %d; want 0, 0", cfg.Limits.MemoryLimit, cfg.Limits.GCPercent)
	}
	withLimits := func(l string) string { return validYAML + "limits: {" + l + "}\n" }
	cfg, err = ParseConfig([]byte(withLimits("memory_limit: 943718400")))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.GCPercent != DefaultGCPercent {
		t.Errorf("gc_percent under a memory limit: %d, want %d", cfg.Limits.GCPercent, DefaultGCPercent)
	}
	for _, c := range []struct{ limits, want string }{
		{"memory_limit: 268435456", "limits.memory_limit: 268435456 bytes leave the collector no room"}, // 256 MiB < 2 × 256 MiB + 64 MiB
		{"memory_limit: -1", "limits.memory_limit: must not be negative"},
		{"memory_limit: 943718400, gc_percent: -5", "limits.gc_percent: must not be negative"},
	} {
		if _, err := ParseConfig([]byte(withLimits(c.limits))); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.limits, err, c.want)
		}
	}
	if _, err := ParseConfig([]byte(withLimits("memory_limit: 134217728, release_memory: 33554432, max_decompressed_bytes: 4194304"))); err != nil {
		t.Errorf("a limit sized to a smaller release budget: %v", err)
	}
}

// TestSetRuntimeMemory: the config's limit and GOGC are what the runtime runs with, unless
// GOMEMLIMIT is in the environment (the operator's own setting wins); without a limit
// nothing changes.
func TestSetRuntimeMemory(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "")
	oldLimit, oldGC := debug.SetMemoryLimit(-1), debug.SetGCPercent(-1)
	debug.SetGCPercent(oldGC)
	t.Cleanup(func() { debug.SetMemoryLimit(oldLimit); debug.SetGCPercent(oldGC) })

	if m := SetRuntimeMemory(Limits{}); m.Limit != oldLimit || m.GCPercent != oldGC {
		t.Errorf("without a limit: %+v, want the runtime's %d and %d unchanged", m, oldLimit, oldGC)
	}
	if m := SetRuntimeMemory(Limits{MemoryLimit: 900 << 20, GCPercent: 200}); m.Limit != 900<<20 || m.GCPercent != 200 || m.Overridden != nil {
		t.Errorf("with a limit: %+v, want 900 MiB and 200, nothing overridden", m)
	}
	debug.SetGCPercent(100)
	t.Setenv("GOGC", "150")
	if m := SetRuntimeMemory(Limits{MemoryLimit: 800 << 20, GCPercent: 200}); m.Limit != 800<<20 || m.GCPercent != 100 || !slices.Equal(m.Overridden, []string{"GOGC"}) {
		t.Errorf("with GOGC in the environment: %+v; want the config's limit, the runtime's GOGC, and GOGC named as overriding", m)
	}
	t.Setenv("GOGC", "")
	debug.SetMemoryLimit(math.MaxInt64)
	debug.SetGCPercent(100)
	t.Setenv("GOMEMLIMIT", "1GiB")
	if m := SetRuntimeMemory(Limits{MemoryLimit: 900 << 20, GCPercent: 200}); m.Limit != math.MaxInt64 || m.GCPercent != 100 || !slices.Equal(m.Overridden, []string{"GOMEMLIMIT"}) {
		t.Errorf("with GOMEMLIMIT in the environment: %+v; the config must not override it, and GOMEMLIMIT is named", m)
	}
}

// TestMemoryLimitCarelessOperator: what a careless operator writes is refused with the
// field named, never applied as something else: a release budget so large that twice it
// overflows (which made any memory limit, 1 MiB too, pass the room check: the collector
// would run without end), and a gc_percent without a memory limit (which nothing
// applies). A reload that changes either key is refused as restart-only.
func TestMemoryLimitCarelessOperator(t *testing.T) {
	withLimits := func(l string) string { return validYAML + "limits: {" + l + "}\n" }
	for _, c := range []struct{ limits, want string }{
		{"memory_limit: 1048576, release_memory: 9223372036854775807", "limits.memory_limit: 1048576 bytes leave the collector no room"},
		{"memory_limit: 1048576, release_memory: 4611686018427387904", "limits.memory_limit: 1048576 bytes leave the collector no room"},
		{"gc_percent: 400", "limits.gc_percent: applies only under limits.memory_limit"},
	} {
		if _, err := ParseConfig([]byte(withLimits(c.limits))); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.limits, err, c.want)
		}
	}
	inForce, err := ParseConfig([]byte(withLimits("memory_limit: 943718400")))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ limits, field string }{
		{"memory_limit: 1073741824", "limits.memory_limit"},
		{"memory_limit: 943718400, gc_percent: 150", "limits.gc_percent"},
	} {
		next, err := ParseConfig([]byte(withLimits(c.limits)))
		if err != nil {
			t.Fatal(err)
		}
		if got := restartOnlyChanges(inForce, next); len(got) != 1 || got[0] != c.field {
			t.Errorf("reload to %s: restart-only changes %v, want [%s]", c.limits, got, c.field)
		}
	}
	same, _ := ParseConfig([]byte(withLimits("memory_limit: 943718400, release_wait: 1s")))
	if got := restartOnlyChanges(inForce, same); len(got) != 0 {
		t.Errorf("a reload that keeps the memory keys: restart-only changes %v", got)
	}
}
