package policy

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink the watcher's goroutine and the test can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const clearedLog = "policy files equal the live revision again; the earlier reload failure is cleared"

// TestRevertedEditClearsTheFailure: an officer breaks a file, the reload is refused, and
// the officer puts back exactly the live bytes. The failure must be cleared (the alert on
// govgate_policy_reload_failing stops), with a log line, and nothing else changes.
func TestRevertedEditClearsTheFailure(t *testing.T) {
	dir := copyShipped(t)
	var logs syncBuffer
	e := newEngine(t, Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := context.Background()
	live := e.Revision().ID
	p := filepath.Join(dir, "catalog.yaml")
	orig, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	edit(t, dir, "catalog.yaml", "classification: secret", "classification: topsecret")
	if _, _, err := e.Reload(ctx); err == nil {
		t.Fatal("a broken edit was accepted")
	}
	if s := e.Status(); s.LastError == "" || s.Failures != 1 {
		t.Fatalf("the failure is not reported: %+v", s)
	}
	// A second reload of the still broken files keeps the failure.
	if _, _, err := e.Reload(ctx); err == nil || e.Status().LastError == "" {
		t.Fatal("a reload of the same broken files cleared the failure")
	}
	if err := os.WriteFile(p, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	rev, changed, err := e.Reload(ctx)
	if err != nil || changed || rev.ID != live {
		t.Fatalf("reload of the reverted files: %v changed=%v revision %s (live %s)", err, changed, rev.ID, live)
	}
	s := e.Status()
	if s.LastError != "" || s.LastErrorAt != nil {
		t.Errorf("the failure stays after the revert: %q", s.LastError)
	}
	if s.Failures != 2 || s.Reloads != 1 {
		t.Errorf("counters changed by the revert: failures %d reloads %d", s.Failures, s.Reloads)
	}
	if n := strings.Count(logs.String(), clearedLog); n != 1 {
		t.Errorf("the clearing is logged %d times:\n%s", n, logs.String())
	}
	// A reload with nothing to clear logs nothing more.
	if _, _, err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), clearedLog); n != 1 {
		t.Errorf("an ordinary unchanged reload logged the clearing (%d)", n)
	}
}

// TestWatchClearsTheFailureOnRevert is the same through the directory watcher, as an
// officer's editor would do it: save a broken file, then undo.
func TestWatchClearsTheFailureOnRevert(t *testing.T) {
	dir := copyShipped(t)
	var logs syncBuffer
	e := newEngine(t, Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := e.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	live := e.Revision().ID
	p := filepath.Join(dir, "catalog.yaml")
	orig, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	edit(t, dir, "catalog.yaml", "classification: secret", "classification: topsecret")
	waitFor(t, "the broken edit to be reported", func() bool { return e.Status().LastError != "" })
	if err := os.WriteFile(p, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the revert to clear the failure", func() bool { return e.Status().LastError == "" })
	if e.Revision().ID != live {
		t.Error("the revert changed the revision")
	}
	if !strings.Contains(logs.String(), clearedLog) {
		t.Errorf("no log line says the failure was cleared:\n%s", logs.String())
	}
}

// waitFor waits for an event of the watcher; the bound only keeps a broken watcher from
// hanging the test, it is not a speed requirement.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
