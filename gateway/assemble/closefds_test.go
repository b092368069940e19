package assemble

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// openWatches counts this process's open inotify instances (policy directory watches).
func openWatches(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.Contains(target, "inotify") {
			n++
		}
	}
	return n
}

// TestCloseReleasesThePolicyWatch: with a watched policy directory, Close returns only
// once the directory's watch is closed — as it waits for every other watcher — so that
// a gateway built again (a test, the bench, a restart in one process) does not pile up
// watches, nor a reload of a closed engine run after Close.
func TestCloseReleasesThePolicyWatch(t *testing.T) {
	p := newTestPKI(t)
	cfg := exampleConfig(t, p, freeAddr(t), freeAddr(t), "127.0.0.1:1")
	policyDir := filepath.Join(t.TempDir(), "policy")
	if err := os.CopyFS(policyDir, os.DirFS(filepath.Join("..", "..", "rego"))); err != nil {
		t.Fatal(err)
	}
	cfg.Policy.Dir = policyDir
	watch := true
	cfg.Policy.Watch = &watch
	before := openWatches(t)
	for i := range 5 {
		a, err := Build(t.Context(), cfg, Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if n := openWatches(t); n <= before {
			t.Fatalf("round %d: no policy watch while built (%d inotify instances, %d before)", i, n, before)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if n := openWatches(t); n != before {
			t.Fatalf("round %d: %d inotify instances open after Close, %d before Build", i, n, before)
		}
	}
}
