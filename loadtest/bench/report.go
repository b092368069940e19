package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/govgate/govgate/crypto/tlcp"
)

// writeReport writes BENCHMARKS.md: the throughput table, the latency at half load, the
// memory at 2,000 connections, and each target of the load-test issue against what was
// measured.
func writeReport(out string, rows []row, disk diskSync, duration time.Duration, runs, conns int, suite tlcp.Suite) error {
	var s strings.Builder
	fmt.Fprintf(&s, "# Benchmarks\n\nProduced by `go run ./loadtest/bench -duration %s -runs %d -conns %d -tlcp-suite %s` on %s.\n\n", duration, runs, conns, suite, time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&s, "Machine: %s, %d CPUs, %s. Servers (the upstream included) pinned to CPU 0, the load generator (`loadtest` package) to CPU 1. Each row is the median of %d runs of %s (by throughput in closed loop, by p99 in open loop), after a one-second warm-up; the runs go in rounds over each table's rows, so that a noisy minute on this shared machine costs every row one sample rather than one row all of them. CPU is the server processes' user+system time (for (d) and (d2): nginx and the stock OPA server), RSS their peak resident memory.\n\n",
		cpuModel(), cpuCount(), runtime.Version(), runs, duration)
	fmt.Fprintf(&s, "## Throughput: closed loop, %d connections\n\n", conns)
	s.WriteString("| scenario | req/s | p50 µs | p99 µs | CPU s / 1k req | peak RSS MB | × (b) | × (d) | errors | audit commit an exchange waited on: p50 / p99 µs; records per commit |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		if strings.HasPrefix(r.name, "(f") || strings.HasPrefix(r.name, "(g") {
			continue
		}
		fmt.Fprintf(&s, "| %s | %.0f | %.0f | %.0f | %.3f | %.0f | %.2f | %.2f | %d | %s |\n", r.name, r.rps, r.p50, r.p99, r.cpuPer1k, r.rssMB, r.ratioBare, r.ratioNgx, r.errors, r.commits)
	}
	fmt.Fprintf(&s, "\nEvery request is the same query for an enterprise registration record by the tax bureau under agreement AGR-2025-0219 (business information: the policy decides and the fields are cut to the agreement's; no quota, so that none runs out mid-run). Every govgate row runs the gateway `govgate serve` builds (package gateway/assemble), with the stages a row does not measure yet switched off through the assembly's options: (e1) plain HTTP, proxy only; (e2)–(e5) TLCP with the department's SM2 pair over %s, adding the policy (e3), the durable audit log (e4) and, in (e5), every request SM2-signed (pre-signed before the run, so that the generator's signing does not limit it).\n", suite)
	writeStages(&s, rows, suite)
	s.WriteString("\n")
	e4 := findRow(rows, "(e4)")
	s.WriteString("## Latency at half of (e4)'s throughput\n\n")
	fmt.Fprintf(&s, "Open loop at %.0f req/s, 32 connections; each request's latency is measured from when it was due, so a stall is not hidden.\n\n", e4.rps/2)
	s.WriteString("| scenario | offered req/s | req/s | CPU µs per exchange | p50 µs | p99 µs | p99.9 µs | errors | audit commit an exchange waited on: p50 / p99 µs; records per commit |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		if strings.HasPrefix(r.name, "(f") {
			fmt.Fprintf(&s, "| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %d | %s |\n", r.name, r.offered, r.rps, cpuMicros(&r), r.p50, r.p99, r.p999, r.errors, r.commits)
		}
	}
	fmt.Fprintf(&s, "\nThe audit disk alone, before the rows ran (%d times one after another: write %d bytes to a file on the audit log's file system, fsync): p50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs. Each of govgate's audited exchanges waits for a group commit of this kind, and the last column gives the commits of the measured run itself — the time each took to frame, write and fsync its records (as `govgate_audit_commit_duration_seconds` has it), counted once for each exchange it held, so that a slow commit weighs as many exchanges as waited on it: under load a commit also waits for the core, and an exchange that arrives during one waits for it and then for its own; (f0) is (f2) without the audit log, at the same offered rate, so that the difference of their CPU per exchange is the audit's own at that rate, where a commit holds a few records (the last column) and each exchange carries a larger share of a commit's fixed cost than in closed loop; (e6) and (f3) keep the audit log on tmpfs, where fsync returns at once (not durable: what they gain is what the disk costs); (f4) and (g3) run govgate with `limits.memory_limit: 128 MiB` (and the release budget it needs, 32 MiB), under which the garbage collector runs at GOGC 200, half as often, until the heap nears the limit; (f5) runs (f2) with `audit.commit_delay: %s`, which holds a small commit open for up to that long while other exchanges append, so that one sync serves more records (its last column: commits and records per commit).\n", disk.n, disk.bytes, disk.p50, disk.p99, disk.p999, benchCommitDelay)
	fmt.Fprintf(&s, "\n## %s keep-alive connections\n\nThe connections are opened a hundred at a time, each step a closed loop over all of them (TLCP handshakes all at once would share the server's core and run past their deadline); then open loop at %.0f req/s over all of them (each connection takes requests in turn), first for %s to settle, then measured. Peak RSS is the measured run's; the opening's peak — up to %s requests in flight at once while the connections open — is beside it.\n\n",
		thousands(manyConnCount), e4.rps/2, duration, thousands(manyConnCount))
	s.WriteString("| scenario | req/s | p50 µs | p99 µs | CPU s / 1k req | peak RSS MB | opening peak RSS MB | errors | audit commit an exchange waited on: p50 / p99 µs; records per commit |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		if strings.HasPrefix(r.name, "(g") {
			fmt.Fprintf(&s, "| %s | %.0f | %.0f | %.0f | %.3f | %.0f | %.0f | %d | %s |\n", r.name, r.rps, r.p50, r.p99, r.cpuPer1k, r.rssMB, r.openingRSSMB, r.errors, r.commits)
		}
	}
	writeTargets(&s, rows, disk, suite)
	writePeerComparison(&s, rows)
	writeShared(&s, rows)
	keepMeasuredElsewhere(&s, out)
	return os.WriteFile(out, []byte(s.String()), 0o644)
}

// measuredElsewhere marks where the sections written by hand from `go test -bench` runs
// (the audit index, streaming, decisions) begin: the bench keeps them when it rewrites
// the file, since it does not measure them.
const measuredElsewhere = "<!-- measured by go test -bench, not by loadtest/bench: kept when it rewrites this file -->"

// keepMeasuredElsewhere appends what follows the marker in the file being replaced.
func keepMeasuredElsewhere(s *strings.Builder, out string) {
	old, err := os.ReadFile(out)
	if err != nil {
		return // a new file: nothing to keep
	}
	if i := strings.Index(string(old), measuredElsewhere); i >= 0 {
		s.WriteString("\n")
		s.Write(old[i:])
	}
}

// writeTargets sets each target against its measurement.
func writeTargets(s *strings.Builder, rows []row, disk diskSync, suite tlcp.Suite) {
	e4, e5 := findRow(rows, "(e4)"), findRow(rows, "(e5)")
	f1, f2, g2 := findRow(rows, "(f1)"), findRow(rows, "(f2)"), findRow(rows, "(g2)")
	met := map[bool]string{true: "met", false: "**missed**"}
	s.WriteString("\n## Targets\n\n| target | measured | |\n|---|---|---|\n")
	writeStageTargets(s, rows, suite, met)
	fmt.Fprintf(s, "| (e4) policy + durable audit + TLCP (%s) ≥ 0.5 × (b) | %.2f × (b) | %s |\n", suite, e4.ratioBare, met[e4.ratioBare >= 0.5])
	fmt.Fprintf(s, "| (e4) ≥ 1.5 × (d) | %.2f × (d) | %s |\n", e4.ratioNgx, met[e4.ratioNgx >= 1.5])
	share := (e5.cpuPer1k - e4.cpuPer1k) / e5.cpuPer1k
	fmt.Fprintf(s, "| (e5) with SM2 request signatures: ratios, and the CPU the signatures take | %.2f × (b), %.2f × (d); (e5) − (e4) is %.0f %% of (e5)'s CPU per request — an upper bound: it also counts what a lower rate batches less; `-only e5 -cpuprofile` splits it | reported |\n", e5.ratioBare, e5.ratioNgx, 100*share)
	fmt.Fprintf(s, "| peak RSS at %s connections ≤ 150 MB | (g2) %.0f MB under load; %.0f MB while they opened with %s requests in flight%s | %s |\n",
		thousands(manyConnCount), g2.rssMB, g2.openingRSSMB, thousands(manyConnCount), lessGCTradeOff(g2, findRow(rows, "(g3)")), met[g2.rssMB <= 150])
	fmt.Fprintf(s, "| p99 ≤ 10 ms at %s connections, at the (g2) rate | (g2) p99 %.1f ms%s | %s%s |\n", thousands(manyConnCount), g2.p99/1000, p99RunsMs(g2), met[g2.p99 <= 10000], runsWithin(g2, 10000))
	diff := (f2.p99 - f1.p99) / 1000
	fmt.Fprintf(s, "| p99 at half of its maximum throughput ≤ (b)'s + 2 ms | (f2) − (f1) = %+.1f ms, (f2)'s p99 %.1f ms%s; the audit disk's own fsync p99 is %.1f ms%s%s | %s |\n",
		diff, f2.p99/1000, p99RunsMs(f2), disk.p99/1000, diskBesideF2(f2), diagnosisDiffs(f1, findRow(rows, "(f3)"), findRow(rows, "(f4)"), findRow(rows, "(f5)")), met[diff <= 2])
}

// p99RunsMs lists an open-loop row's p99 of each run, in ms, when it had more than one.
func p99RunsMs(r *row) string {
	if len(r.p99Runs) < 2 {
		return ""
	}
	ms := make([]string, len(r.p99Runs))
	for i, p := range r.p99Runs {
		ms[i] = fmt.Sprintf("%.1f", p/1000)
	}
	return " (runs " + strings.Join(ms, ", ") + ")"
}

// runsWithin says in how many of a row's runs the p99 was within limit µs, when it had
// more than one: the verdict is the median's.
func runsWithin(r *row, limit float64) string {
	if len(r.p99Runs) < 2 {
		return ""
	}
	n := 0
	for _, p := range r.p99Runs {
		if p <= limit {
			n++
		}
	}
	return fmt.Sprintf(" by the median; within it in %d of %d runs", n, len(r.p99Runs))
}

// diskBesideF2 gives the disk's fsync p99 as probed just before (f2)'s median run, if it
// was: the floor under that run's tail at the time it ran.
func diskBesideF2(f2 *row) string {
	if f2.disk == nil {
		return ""
	}
	return fmt.Sprintf(" before the rows, %.1f ms just before (f2)'s run", f2.disk.p99/1000)
}

// diagnosisDiffs says what the p99 target measures with the audit log on tmpfs (f3),
// with less garbage collection (f4) and with the commit delay (f5), for the rows that ran.
func diagnosisDiffs(f1, f3, f4, f5 *row) string {
	var out string
	if f3 != nil {
		out += fmt.Sprintf("; with the log on tmpfs (f3) − (f1) = %+.1f ms", (f3.p99-f1.p99)/1000)
	}
	if f4 != nil {
		out += fmt.Sprintf("; with the memory limit (f4) − (f1) = %+.1f ms", (f4.p99-f1.p99)/1000)
	}
	if f5 != nil {
		out += fmt.Sprintf("; with audit.commit_delay %s (f5) − (f1) = %+.1f ms", benchCommitDelay, (f5.p99-f1.p99)/1000)
	}
	return out
}

// lessGCTradeOff sets (g2)'s latency beside (g3)'s, and (g3)'s memory, if it ran.
func lessGCTradeOff(g2, g3 *row) string {
	if g3 == nil {
		return ""
	}
	return fmt.Sprintf("; its p99 is %.1f ms, with the memory limit (g3) %.1f ms at %.0f MB", g2.p99/1000, g3.p99/1000, g3.rssMB)
}

// String is a commitStats' table cell; rows without an audit log have none.
func (c *commitStats) String() string {
	if c == nil || c.commits == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f / %.0f, %.1f", c.p50, c.p99, float64(c.records)/float64(c.commits))
}

func thousands(n int) string {
	if n < 1000 {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d,%03d", n/1000, n%1000)
}
