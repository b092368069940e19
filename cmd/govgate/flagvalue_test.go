package main

import (
	"path/filepath"
	"testing"
)

// TestBadFlagValuesAreUsageErrors: a flag given a value it does not take is a wrong
// command line (exit 2, docs/architecture.md), not a failure of the work (1), which a
// script reads as "the report, the load test, the issue ran and said no".
func TestBadFlagValuesAreUsageErrors(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca")
	mustRun(t, "ca", "init", "--dir", ca, "--valid", "30d")
	for _, args := range [][]string{
		{"audit", "report", dir, "--by", "nonsense"},
		{"audit", "report", dir, "--from", "the day before yesterday"},
		{"audit", "report", dir, "--to", "soon"},
		{"certs", "issue", "--ca", ca, "--system", "s1", "--out", dir, "--role", "root"},
		{"loadtest", "--transport", "carrier-pigeon", "http://127.0.0.1:1/x"},
	} {
		if code, _, errOut := runCmd(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (usage): %s", args, code, exitUsage, errOut)
		}
	}
}
