package main

import (
	"strings"
	"testing"
)

// TestOpenLoopRunThatFellBehindIsSaid: a run that completed less than 98 % of the rate it
// offered is flagged in its log line (its latencies are a queue's); one that kept the
// rate, and any closed-loop run, is not.
func TestOpenLoopRunThatFellBehindIsSaid(t *testing.T) {
	if got := (row{offered: 3200, rps: 3023}).behind(); !strings.Contains(got, "FELL BEHIND: 3023 of 3200") {
		t.Errorf("3023 of 3200 req/s: %q, want it flagged", got)
	}
	for _, r := range []row{{offered: 3200, rps: 3195}, {offered: 3200, rps: 3200}, {rps: 100}} {
		if got := r.behind(); got != "" {
			t.Errorf("%+v flagged %q", r, got)
		}
	}
}

// TestTargetsSetF2AgainstTheDiskAsItWas: with a probe taken just before (f2)'s run, the
// half-load target gives the disk's p99 of that moment beside the one before the rows;
// without one it claims none.
func TestTargetsSetF2AgainstTheDiskAsItWas(t *testing.T) {
	rows := reportRows()
	findRow(rows, "(f2)").disk = &diskSync{n: besideProbes, bytes: 1024, p99: 7400}
	if md := renderReport(t, rows); !strings.Contains(md, "7.4 ms just before (f2)'s run") {
		t.Errorf("the target does not give the disk as probed before (f2):\n%s", md)
	}
	if md := renderReport(t, reportRows()); strings.Contains(md, "just before (f2)") {
		t.Errorf("the target claims a probe that was not taken:\n%s", md)
	}
}
