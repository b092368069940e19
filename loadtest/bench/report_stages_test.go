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
		"| the durable audit adds ≤ 15 µs CPU per exchange: (e4) − (e3) | +23 µs | **missed** |",
		"| p99 ≤ 10 ms at 2,000 connections, at the (g2) rate | (g2) p99 5.0 ms | met |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
	var cbc strings.Builder
	writeStageTargets(&cbc, rows, tlcp.ECC_SM4_CBC_SM3, map[bool]string{true: "met", false: "**missed**"})
	if !strings.Contains(cbc.String(), "not judged: the target is for a GCM suite") {
		t.Errorf("a CBC run judges the GCM target:\n%s", cbc.String())
	}
}
