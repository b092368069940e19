package main

import (
	"strings"
	"testing"

	"github.com/govgate/govgate/crypto/tlcp"
)

// TestReportHasPerStageCPUAndTargets: the report walks (b) → (e5) with each stage's CPU
// per exchange over the row before it, with system calls per exchange, and judges the
// TLCP and audit CPU budgets from those same rows — the TLCP one only for a GCM suite.
func TestReportHasPerStageCPUAndTargets(t *testing.T) {
	rows := reportRows()
	set := func(name string, cpuMicros float64) {
		r := findRow(rows, name)
		r.cpuPer1k = cpuMicros / 1000
		r.io = ioCounts{reads: 2, writes: 2.5, readBytes: 900, writeBytes: 1100}
	}
	set("(b)", 20)
	set("(e1)", 24)
	set("(e2)", 40) // TLCP: +16, met
	set("(e3)", 47)
	set("(e4)", 70) // audit: +23, missed
	set("(e5)", 300)
	md := renderReport(t, rows)
	for _, want := range []string{
		"## Where the CPU goes: per stage, in this run",
		"| " + scenarioNamed("(b)").name + " | 3000 | 20 | – | 2.0 + 2.5 | 900 + 1100 | 0 B, 0.0 objects |",
		"| " + scenarioNamed("(e2)").name + " | 3000 | 40 | +16 over (e1) | 2.0 + 2.5 | 900 + 1100 | 0 B, 0.0 objects |",
		"| " + scenarioNamed("(e4)").name + " | 4000 | 70 | +23 over (e3) |",
		"| TLCP (ECDHE_SM4_GCM_SM3) adds ≤ 25 µs CPU per exchange: (e2) − (e1) | +16 µs | met |",
		"| the durable audit adds ≤ 15 µs CPU per exchange: (e4) − (e3) | +23 µs in closed loop; at the same offered rate, ½ (e4), (f2) − (f0) = +0 µs; with audit.commit_delay 300us, (f5) − (f0) = +0 µs | **missed** in closed loop; met at the same rate |",
		"| p99 ≤ 10 ms at 2,000 connections, at the (g2) rate | (g2) p99 5.0 ms | met |",
		"; with audit.commit_delay 300us (f5) − (f1) = +0.0 ms |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
	// With several runs, the (g2) line gives each run's p99 and how many met the target:
	// a median that meets it over a run that does not is not hidden.
	findRow(rows, "(g2)").p99Runs = []float64{8500, 38800, 6900}
	findRow(rows, "(g2)").p99 = 8500
	md = renderReport(t, rows)
	if want := "| p99 ≤ 10 ms at 2,000 connections, at the (g2) rate | (g2) p99 8.5 ms (runs 8.5, 38.8, 6.9) | met by the median; within it in 2 of 3 runs |"; !strings.Contains(md, want) {
		t.Errorf("the report lacks %q", want)
	}
	findRow(rows, "(f2)").p99Runs = []float64{5600, 7500, 5000}
	md = renderReport(t, rows)
	if want := "| (f2) − (f1) = +0.0 ms, (f2)'s p99 5.0 ms (runs 5.6, 7.5, 5.0); the audit disk's own fsync p99 is"; !strings.Contains(md, want) {
		t.Errorf("the report lacks %q", want)
	}
	findRow(rows, "(g2)").p99Runs = []float64{12000, 38800, 6900}
	findRow(rows, "(g2)").p99 = 12000
	md = renderReport(t, rows)
	if want := "| (g2) p99 12.0 ms (runs 12.0, 38.8, 6.9) | **missed** by the median; within it in 1 of 3 runs |"; !strings.Contains(md, want) {
		t.Errorf("the report lacks %q", want)
	}
	// At the same offered rate the audit's CPU is judged again, apart from what a lower
	// closed-loop rate costs every exchange: here (f2) − (f0) = +12, met at that rate.
	findRow(rows, "(f0)").cpuPer1k, findRow(rows, "(f0)").offered = 0.060, 3000
	findRow(rows, "(f2)").cpuPer1k = 0.072
	findRow(rows, "(f5)").cpuPer1k = 0.068
	md = renderReport(t, rows)
	for _, want := range []string{
		"| the durable audit adds ≤ 15 µs CPU per exchange: (e4) − (e3) | +23 µs in closed loop; at the same offered rate, ½ (e4), (f2) − (f0) = +12 µs; with audit.commit_delay 300us, (f5) − (f0) = +8 µs | **missed** in closed loop; met at the same rate |",
		"| " + scenarioNamed("(f0)").name + " | 3000 | 3000 | 60 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q\n%s", want, md)
		}
	}
	// A run without (f0) (-only) judges the closed loop alone.
	var closedOnly strings.Builder
	writeStageTargets(&closedOnly, withoutRow(rows, "(f0)"), tlcp.ECDHE_SM4_GCM_SM3, map[bool]string{true: "met", false: "**missed**"})
	if want := "| the durable audit adds ≤ 15 µs CPU per exchange: (e4) − (e3) | +23 µs | **missed** |"; !strings.Contains(closedOnly.String(), want) {
		t.Errorf("without (f0) the audit target is not the closed loop's alone:\n%s", closedOnly.String())
	}
	var cbc strings.Builder
	writeStageTargets(&cbc, rows, tlcp.ECC_SM4_CBC_SM3, map[bool]string{true: "met", false: "**missed**"})
	if !strings.Contains(cbc.String(), "not judged: the target is for a GCM suite") {
		t.Errorf("a CBC run judges the GCM target:\n%s", cbc.String())
	}
}

func withoutRow(rows []row, prefix string) []row {
	var out []row
	for _, r := range rows {
		if !strings.HasPrefix(r.name, prefix) {
			out = append(out, r)
		}
	}
	return out
}
