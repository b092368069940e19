package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeepMeasuredElsewhere: a rewrite keeps the hand-written sections after the marker
// and drops the old generated ones before it.
func TestKeepMeasuredElsewhere(t *testing.T) {
	out := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	var s strings.Builder
	keepMeasuredElsewhere(&s, out) // no file yet
	if s.Len() != 0 {
		t.Fatalf("nothing to keep from a missing file, got %q", s.String())
	}
	old := "# Benchmarks\n\nold generated table\n\n" + measuredElsewhere + "\n\n## The audit index\n\nshipped 42k rec/s\n"
	if err := os.WriteFile(out, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	s.WriteString("# Benchmarks\n\nnew generated table\n")
	keepMeasuredElsewhere(&s, out)
	got := s.String()
	if strings.Contains(got, "old generated") || !strings.Contains(got, "new generated table") || !strings.HasSuffix(got, measuredElsewhere+"\n\n## The audit index\n\nshipped 42k rec/s\n") {
		t.Errorf("rewritten file:\n%s", got)
	}
}
