package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/crypto/tlcp"
)

// reportRows is one row per scenario with made-up numbers: (e4) at 4,000 req/s and
// 0.100 s CPU per 1k, (d) at 2,000 and 0.400, (d2) at 1,000 and 0.500.
func reportRows() []row {
	var rows []row
	for _, sc := range scenarios() {
		r := row{name: sc.name, rps: 3000, p50: 1000, p99: 5000, p999: 9000, cpuPer1k: 0.2, rssMB: 30, ratioBare: 1, ratioNgx: 1}
		switch {
		case strings.HasPrefix(sc.name, "(e4)"):
			r.rps, r.cpuPer1k = 4000, 0.100
		case strings.HasPrefix(sc.name, "(d)"):
			r.rps, r.cpuPer1k, r.opaCPUPer1k = 2000, 0.400, 0.300
		case strings.HasPrefix(sc.name, "(d2)"):
			r.rps, r.cpuPer1k = 1000, 0.500
		}
		rows = append(rows, r)
	}
	return rows
}

func renderReport(t *testing.T, rows []row) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	if err := writeReport(out, rows, diskSync{n: 1000, bytes: 1024}, 3*time.Second, 1, 32, tlcp.ECDHE_SM4_GCM_SM3); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReportComparesE4WithTheStockOPARows: the report has the nginx TLS row in its
// throughput table and closes by setting (e4) against (d) and (d2) with the ratios of the
// same run.
func TestReportComparesE4WithTheStockOPARows(t *testing.T) {
	md := renderReport(t, reportRows())
	for _, want := range []string{
		"| (d) nginx + auth_request to the stock OPA server | 2000 |",
		"| (d2) nginx terminating TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 + auth_request to the stock OPA server | 1000 |",
		"## (e4) against nginx + the stock OPA server",
		"| (d) nginx + auth_request to the stock OPA server | 2000 | 1000 | 5000 | 0.400 | 0.300 | 30 | 2.00 | 0.25 |",
		"| " + scenarioNamed("(e4)").name + " | 4000 | 1000 | 5000 | 0.100 | – | 30 | 1.00 | 1.00 |",
		"(e4) answers 2.00 × as many requests as (d) and 4.00 × as many as (d2), its encrypted peer; terminating TLS takes 50 % off (d)'s throughput.",
		"opa run --server",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Count(md, "## (e4) against") != 1 || strings.Index(md, "## Targets") > strings.Index(md, "## (e4) against") {
		t.Error("the comparison with the stock OPA rows is not the report's single closing section")
	}
}

// TestReportWithoutTheTLSRow: a run without (d2) still compares (e4) with (d), and names
// no row it did not measure.
func TestReportWithoutTheTLSRow(t *testing.T) {
	var rows []row
	for _, r := range reportRows() {
		if !strings.HasPrefix(r.name, "(d2)") {
			rows = append(rows, r)
		}
	}
	md := renderReport(t, rows)
	if !strings.Contains(md, "(e4) answers 2.00 × as many requests as (d).") {
		t.Error("the comparison with (d) is missing")
	}
	if strings.Contains(md, "| (d2)") {
		t.Error("a row that did not run is in the report")
	}
}
