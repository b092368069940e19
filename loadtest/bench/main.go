// Command bench measures, in one run and against the same small upstream with the same
// client and request, the upstream directly, a bare fasthttp reverse proxy, nginx as a
// keep-alive reverse proxy, what a department deploys without govgate — nginx with
// auth_request to the stock OPA server (`opa run --server`) loaded with govgate's rego/,
// over plain HTTP (d) and terminating TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256 (d2), the
// channel-encrypted peer of the TLCP rows — and govgate as gateway/assemble builds it for
// serve, with its stages switched on one at a time; and writes BENCHMARKS.md. Run by
// hand, not by CI:
//
//	go run ./loadtest/bench [-duration 10s] [-runs 3] [-conns 32] [-out BENCHMARKS.md]
//
// Besides the throughput, latency and memory tables, BENCHMARKS.md gets the per-stage CPU
// table — (b), then govgate with one more stage at each row: req/s, server CPU µs per
// exchange, what the stage adds over the row before it, read/write system calls and bytes
// per exchange (/proc/PID/io) and heap allocated per exchange (the server's
// runtime/metrics) — and the targets table (TLCP and audit CPU budgets, full pipeline ×
// (b), p99 at half load, p99 and peak RSS at 2,000 connections), all from the same run.
// For diagnosis: -only b,e3,e4 runs a subset (no report), -cpuprofile, -trace (runtime
// trace of each govgate server's measured run) and -strace (strace -c -f of each server's
// measured run, per exchange).
//
// Servers run as separate processes pinned to CPU 0, the load generator to CPU 1 (taskset),
// so that CPU time and peak RSS are the server's own. nginx comes from Debian
// (apt-get install nginx-light); OPA is built from the OPA module go.mod requires (a tool
// directive there), with `go build`, at the first row that needs it.
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/govgate/govgate/crypto/tlcp"
)

func main() {
	role := flag.String("role", "", "internal: run as one of the servers")
	addr := flag.String("addr", "", "internal: listen address")
	upstream := flag.String("upstream", "", "internal: upstream address")
	stages := flag.String("stages", "", "internal: govgate stages")
	dir := flag.String("dir", "", "internal: working directory")
	duration := flag.Duration("duration", 10*time.Second, "length of each measurement")
	runs := flag.Int("runs", 3, "measurements per row; the row is their median by throughput")
	conns := flag.Int("conns", 32, "client connections")
	out := flag.String("out", "BENCHMARKS.md", "where to write the table")
	only := flag.String("only", "", "run only the scenarios whose label starts with one of these comma-separated prefixes (d: d and d2, e: e1–e6, e3: just e3, f, g; b,e: (b) and e1–e6); no report is written")
	profile := flag.String("cpuprofile", "", "write a CPU profile of each govgate server to FILE.<stages>, and its heap as it stops to FILE.<stages>.heap")
	traceOut := flag.String("trace", "", "write a runtime trace (go tool trace) of each govgate server's measured run to FILE.<stages>")
	straceOut := flag.String("strace", "", "count each server's system calls over the measured run with strace -c -f, into FILE.<row>.<n>, and per exchange into FILE.<row>.<n>.per-exchange (strace slows the server: read the counts, not the row's throughput)")
	tlcpSuite := flag.String("tlcp-suite", "ECDHE_SM4_GCM_SM3", "TLCP cipher suite the TLCP rows' client offers (the gateway accepts all four): ECDHE_SM4_GCM_SM3 (the default preference), ECC_SM4_GCM_SM3, ECDHE_SM4_CBC_SM3 or ECC_SM4_CBC_SM3 (the only one before suites were configurable)")
	fixedRate := flag.Float64("rate", 0, "open-loop rate in req/s of the half-load (f) and 2,000-connection (g) rows (0: half of (e4)'s throughput in this run, measured first); a fixed rate lets two builds be compared at one load")
	serverProcs := flag.Int("server-gomaxprocs", 0, "GOMAXPROCS of the server processes (0: unset, so govgate takes one P more than its CPU, as govgate serve does); the load generator keeps its own")
	flag.Parse()
	suite, err := tlcp.ParseSuite(*tlcpSuite)
	if err != nil {
		log.Fatalf("-tlcp-suite: %v", err)
	}
	if *role != "" {
		if *traceOut != "" {
			defer traceOnSignal(*traceOut)()
		}
		if err := serve(*role, *addr, *upstream, *stages, *dir, *profile); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := checkRate(*fixedRate, *only); err != nil {
		log.Fatal(err)
	}
	if err := orchestrate(*duration, *runs, *conns, *out, *only, *profile, *traceOut, *straceOut, suite, *serverProcs, *fixedRate); err != nil {
		log.Fatal(err)
	}
}

// scenario is one row of a table.
type scenario struct {
	name    string
	servers func(b *bench) ([]*proc, string, error) // the processes under test, and the URL to load
	tlcp    bool
	sign    bool
	load    loadKind
}

// loadKind is which of the bench's loads drives a scenario.
type loadKind int

const (
	closedLoop loadKind = iota // -conns connections, each sending as soon as answered
	halfOfE4                   // open loop at half of (e4)'s throughput, 32 connections
	manyConns                  // 2,000 connections opened a hundred at a time, then as halfOfE4
)

// load is a scenario's load resolved to numbers for one measurement.
type load struct {
	conns int
	rate  float64 // requests per second, open loop; 0 runs closed loop
	ramp  bool    // open the connections a hundred at a time before measuring
}

type row struct {
	name                string
	offered             float64 // open loop: the rate asked for
	rps, p50, p99, p999 float64 // req/s, µs
	cpuPer1k, rssMB     float64 // rssMB: the peak during the measured run
	opaCPUPer1k         float64 // the stock OPA server's share of cpuPer1k, rows (d) and (d2)
	openingRSSMB        float64 // the peak before it: warm-up, and the ramp if any
	errors              int64
	ratioBare, ratioNgx float64
	commits             *commitStats // govgate with an audit log: its group commits in the measured run
	io                  ioCounts     // the servers' read/write system calls and bytes, per exchange
	// allocBytes and allocObjects are a Go server's heap allocation per exchange.
	allocBytes, allocObjects float64
	// disk is the audit disk alone, probed just before an open-loop audit row's measured
	// run: the floor under that run's tail, measured at the same moment (diskBeside).
	disk *diskSync
	// p99Runs is every run's p99 in the order they ran, the median's included: a tail
	// that one run in three has (a collection or a slow sync in its window) shows here
	// and not in the median.
	p99Runs []float64
}

func orchestrate(duration time.Duration, runs, conns int, out, only, profile, traceOut, straceOut string, suite tlcp.Suite, serverProcs int, rate float64) error {
	if os.Getenv("GOVGATE_BENCH_PINNED") == "" && haveTaskset() && runtime.NumCPU() > 1 {
		// Re-run pinned to CPU 1; the servers go to CPU 0.
		cmd := exec.Command("taskset", append([]string{"-c", "1", os.Args[0]}, os.Args[1:]...)...)
		cmd.Env = append(os.Environ(), "GOVGATE_BENCH_PINNED=1")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		return cmd.Run()
	}
	reserveLoadProc()
	b, err := newBench()
	if err != nil {
		return err
	}
	b.profile, b.trace, b.strace = profile, traceOut, straceOut
	b.suite = suite
	b.serverProcs = serverProcs
	defer b.close()
	// The disk first, while nothing else runs.
	disk, err := measureDiskSync(b.dir, 1000, 1024)
	if err != nil {
		return err
	}
	log.Printf("the audit disk alone: write 1 KB + fsync: p50 %.0f µs  p99 %.0f µs  p99.9 %.0f µs", disk.p50, disk.p99, disk.p999)
	// Each load's rows are measured in turn, round after round, so that a noisy minute on
	// this shared machine costs every row one sample rather than one row all of its own.
	byLoad := map[loadKind][]scenario{}
	for _, sc := range scenarios() {
		if selected(sc.name, only) {
			byLoad[sc.load] = append(byLoad[sc.load], sc)
		}
	}
	rows, err := b.interleaved(byLoad[closedLoop], duration, runs, load{conns: conns})
	if err != nil {
		return err
	}
	if len(byLoad[halfOfE4])+len(byLoad[manyConns]) > 0 {
		if findRow(rows, "(e4)") == nil && rate == 0 { // -only f or g
			e4, err := b.interleaved([]scenario{scenarioNamed("(e4)")}, duration, 1, load{conns: conns})
			if err != nil {
				return err
			}
			rows = append(rows, e4...)
		}
		rate = openLoopRate(rate, rows)
		half, err := b.interleaved(byLoad[halfOfE4], duration, runs, load{conns: 32, rate: rate})
		if err != nil {
			return err
		}
		many, err := b.interleaved(byLoad[manyConns], duration, runs, load{conns: manyConnCount, rate: rate, ramp: true})
		if err != nil {
			return err
		}
		rows = append(append(rows, half...), many...)
	}
	if only != "" {
		return nil
	}
	bare, ngxAuth := findRow(rows, "(b)").rps, findRow(rows, "(d)").rps
	for i := range rows {
		rows[i].ratioBare, rows[i].ratioNgx = rows[i].rps/bare, rows[i].rps/ngxAuth
	}
	return writeReport(out, rows, disk, duration, runs, conns, suite)
}

// interleaved measures each scenario runs times, one round over all of them after
// another, and returns each one's median run: by throughput in closed loop, by p99 in
// open loop (where every run has the offered rate).
func (b *bench) interleaved(scs []scenario, duration time.Duration, runs int, ld load) ([]row, error) {
	samples := make([][]row, len(scs))
	order := make([][]float64, len(scs)) // each scenario's p99 by run, before the sort
	for i := range runs {
		for j, sc := range scs {
			r, err := b.measure(sc, duration, ld)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sc.name, err)
			}
			log.Printf("%-52s run %d: %8.0f req/s  p50 %6.0f µs  p99 %7.0f µs  cpu %.3f s/1k (opa %.3f)  rss %.0f MB  errors %d  commits %s  reads+writes/exchange %.1f+%.1f  alloc/exchange %.0f B %.1f objects%s%s",
				sc.name, i+1, r.rps, r.p50, r.p99, r.cpuPer1k, r.opaCPUPer1k, r.rssMB, r.errors, r.commits, r.io.reads, r.io.writes, r.allocBytes, r.allocObjects, r.disk, r.behind())
			if r.errors > 0 {
				return nil, fmt.Errorf("%s: %d requests failed; a run with errors measures the errors", sc.name, r.errors)
			}
			samples[j] = append(samples[j], r)
			order[j] = append(order[j], r.p99)
		}
	}
	rows := make([]row, len(scs))
	for j, ss := range samples {
		sort.Slice(ss, func(a, b int) bool {
			if ld.rate > 0 {
				return ss[a].p99 < ss[b].p99
			}
			return ss[a].rps < ss[b].rps
		})
		rows[j] = ss[len(ss)/2]
		rows[j].p99Runs = order[j]
	}
	return rows, nil
}

// selected tells whether the scenario named name is among only's comma-separated label
// prefixes ("b,e" runs (b) and (e1)–(e6)); an empty only selects every scenario.
func selected(name, only string) bool {
	if only == "" {
		return true
	}
	for _, p := range strings.Split(only, ",") {
		if p = strings.TrimSpace(p); p != "" && strings.HasPrefix(name, "("+p) {
			return true
		}
	}
	return false
}

func scenarioNamed(prefix string) scenario {
	for _, sc := range scenarios() {
		if strings.HasPrefix(sc.name, prefix) {
			return sc
		}
	}
	panic("no scenario " + prefix)
}

// checkRate refuses a -rate the run cannot honour: the report's tables and targets are
// at half of (e4)'s throughput, so a fixed rate is for -only runs, which write none.
func checkRate(rate float64, only string) error {
	switch {
	case !(rate >= 0) || math.IsInf(rate, 1): // NaN too
		return fmt.Errorf("-rate %v: a rate is a finite positive number (0: half of (e4)'s throughput)", rate)
	case rate > 0 && only == "":
		return fmt.Errorf("-rate %v needs -only: the report's tables are at half of (e4)'s throughput", rate)
	}
	return nil
}

// openLoopRate is the rate of the open-loop rows: -rate when given, else half of (e4)'s
// throughput in this run.
func openLoopRate(fixed float64, rows []row) float64 {
	if fixed > 0 {
		return fixed
	}
	return findRow(rows, "(e4)").rps / 2
}

func findRow(rows []row, prefix string) *row {
	for i := range rows {
		if strings.HasPrefix(rows[i].name, prefix) {
			return &rows[i]
		}
	}
	return nil
}

func haveTaskset() bool { _, err := exec.LookPath("taskset"); return err == nil }

// manyConnCount is the connection count of the memory rows (g).
const manyConnCount = 2000

func scenarios() []scenario {
	bareproxy := func(b *bench) ([]*proc, string, error) { return b.self("bareproxy", "") }
	full := func(b *bench) ([]*proc, string, error) { return b.self("govgate", "policy,audit,tlcp") }
	// The diagnosis rows keep the audit log where fsync returns at once: what they gain
	// over their durable twins is what the disk costs.
	onTmpfs := func(b *bench) ([]*proc, string, error) { return b.self("govgate", "policy,audit,tlcp,tmpfs") }
	// And as an operator following docs/architecture.md ("Memory: GOMEMLIMIT") runs it:
	// limits.memory_limit 128 MiB, under which the collector runs at GOGC 200 (half as
	// often) until the heap nears the limit: what they gain in latency is what collection
	// costs, their memory what the limit holds it to.
	lessGC := func(b *bench) ([]*proc, string, error) { return b.self("govgate", "policy,audit,tlcp,memlimit") }
	// And with audit.commit_delay (benchCommitDelay): commits held open for more records
	// when several exchanges append, trading up to the delay per exchange for fewer syncs.
	held := func(b *bench) ([]*proc, string, error) { return b.self("govgate", "policy,audit,tlcp,commitdelay") }
	return append([]scenario{
		{name: "(a) upstream directly", servers: func(b *bench) ([]*proc, string, error) {
			return nil, "http://" + b.upstream + "/enterprise/v1/companies", nil
		}},
		{name: "(b) bare fasthttp reverse proxy", servers: bareproxy},
		{name: "(c) nginx keep-alive reverse proxy", servers: func(b *bench) ([]*proc, string, error) { return b.nginx(nginxRow{}) }},
		{name: "(d) nginx + auth_request to the stock OPA server", servers: func(b *bench) ([]*proc, string, error) {
			return b.nginx(nginxRow{auth: true})
		}},
		{name: "(d2) nginx terminating TLS 1.2 " + nginxTLSCipher + " + auth_request to the stock OPA server", servers: func(b *bench) ([]*proc, string, error) {
			return b.nginx(nginxRow{auth: true, tls: true})
		}},
		{name: "(e1) govgate: proxy only", servers: func(b *bench) ([]*proc, string, error) { return b.self("govgate", "proxy") }},
		// Each row switches on one more stage through the assembly's options; TLCP comes
		// first because without it no consumer is identified for the policy to decide on.
		{name: "(e2) govgate: + TLCP", tlcp: true, servers: func(b *bench) ([]*proc, string, error) { return b.self("govgate", "tlcp") }},
		{name: "(e3) govgate: + policy", tlcp: true, servers: func(b *bench) ([]*proc, string, error) { return b.self("govgate", "tlcp,policy") }},
		{name: "(e4) govgate: + durable audit", tlcp: true, servers: full},
		{name: "(e5) govgate: + SM2 request signatures", tlcp: true, sign: true, servers: func(b *bench) ([]*proc, string, error) {
			return b.self("govgate", "policy,audit,tlcp,sign")
		}},
		{name: "(e6) diagnosis: (e4) with the audit log on tmpfs — not durable", tlcp: true, servers: onTmpfs},
		// (f0) is (f2) without the audit: at one offered rate the two rows' CPU per
		// exchange differ by the audit alone, at a rate where its commits hold a few
		// records, not a closed loop's dozen.
		{name: "(f0) govgate as (e3): no audit, open loop at ½ (e4)", tlcp: true, servers: func(b *bench) ([]*proc, string, error) { return b.self("govgate", "tlcp,policy") }, load: halfOfE4},
		{name: "(f1) bare fasthttp proxy, open loop at ½ (e4)", servers: bareproxy, load: halfOfE4},
		{name: "(f2) govgate as (e4), open loop at ½ (e4)", tlcp: true, servers: full, load: halfOfE4},
		{name: "(f3) diagnosis: (f2) with the audit log on tmpfs — not durable", tlcp: true, servers: onTmpfs, load: halfOfE4},
		{name: "(f4) diagnosis: (f2) with limits.memory_limit 128 MiB (GOGC 200 under it)", tlcp: true, servers: lessGC, load: halfOfE4},
		{name: "(f5) diagnosis: (f2) with audit.commit_delay " + benchCommitDelay, tlcp: true, servers: held, load: halfOfE4},
		{name: "(g1) bare fasthttp proxy, 2,000 connections", servers: bareproxy, load: manyConns},
		{name: "(g2) govgate as (e4), 2,000 connections", tlcp: true, servers: full, load: manyConns},
		{name: "(g3) diagnosis: (g2) with limits.memory_limit 128 MiB (GOGC 200 under it)", tlcp: true, servers: lessGC, load: manyConns},
	}, sharedScenarios()...)
}

// cpuCount is the machine's CPUs; runtime.NumCPU would say 1 in this pinned process.
func cpuCount() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU()
	}
	return strings.Count(string(b), "\nprocessor") + map[bool]int{true: 1, false: 0}[strings.HasPrefix(string(b), "processor")]
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// freeAddr returns a free 127.0.0.1 address.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(addr string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not start listening", addr)
}
