// Command bench measures, in one run and against the same small upstream with the same
// client and request, the upstream directly, a bare fasthttp reverse proxy, nginx as a
// keep-alive reverse proxy, nginx with auth_request to an OPA authorisation service, and
// govgate with its stages switched on one at a time; and writes BENCHMARKS.md. Run by
// hand, not by CI:
//
//	go run ./loadtest/bench [-duration 10s] [-runs 3] [-conns 32] [-out BENCHMARKS.md]
//
// Servers run as separate processes pinned to CPU 0, the load generator to CPU 1 (taskset),
// so that CPU time and peak RSS are the server's own. nginx comes from Debian
// (apt-get install nginx-light).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"
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
	only := flag.String("only", "", "run only the scenarios whose name contains this (e.g. e3); no table is written")
	profile := flag.String("cpuprofile", "", "write a CPU profile of each govgate server to FILE.<stages>")
	flag.Parse()
	if *role != "" {
		if err := serve(*role, *addr, *upstream, *stages, *dir, *profile); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := orchestrate(*duration, *runs, *conns, *out, *only, *profile); err != nil {
		log.Fatal(err)
	}
}

// scenario is one row of the table.
type scenario struct {
	name    string
	servers func(b *bench) ([]*proc, string, error) // the processes under test, and the URL to load
	tlcp    bool
	sign    bool
}

type row struct {
	name                string
	rps, p50, p99       float64 // req/s, µs
	cpuPer1k, rssMB     float64
	errors              int64
	ratioBare, ratioNgx float64
}

func orchestrate(duration time.Duration, runs, conns int, out, only, profile string) error {
	if os.Getenv("GOVGATE_BENCH_PINNED") == "" && haveTaskset() && runtime.NumCPU() > 1 {
		// Re-run pinned to CPU 1; the servers go to CPU 0.
		cmd := exec.Command("taskset", append([]string{"-c", "1", os.Args[0]}, os.Args[1:]...)...)
		cmd.Env = append(os.Environ(), "GOVGATE_BENCH_PINNED=1")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		return cmd.Run()
	}
	b, err := newBench()
	if err != nil {
		return err
	}
	b.profile = profile
	defer b.close()
	var rows []row
	for _, sc := range scenarios() {
		if only != "" && !strings.Contains(sc.name, only) {
			continue
		}
		var samples []row
		for i := range runs {
			r, err := b.measure(sc, duration, conns)
			if err != nil {
				return fmt.Errorf("%s: %w", sc.name, err)
			}
			log.Printf("%-44s run %d: %8.0f req/s  p50 %6.0f µs  p99 %7.0f µs  cpu %.3f s/1k  rss %.0f MB  errors %d",
				sc.name, i+1, r.rps, r.p50, r.p99, r.cpuPer1k, r.rssMB, r.errors)
			if r.errors > 0 {
				return fmt.Errorf("%s: %d requests failed; a run with errors measures the errors", sc.name, r.errors)
			}
			samples = append(samples, r)
		}
		sort.Slice(samples, func(i, j int) bool { return samples[i].rps < samples[j].rps })
		rows = append(rows, samples[len(samples)/2])
	}
	if only != "" {
		return nil
	}
	bare, ngxAuth := rows[1].rps, rows[3].rps
	for i := range rows {
		rows[i].ratioBare, rows[i].ratioNgx = rows[i].rps/bare, rows[i].rps/ngxAuth
	}
	return writeTable(out, rows, duration, runs, conns)
}

func haveTaskset() bool { _, err := exec.LookPath("taskset"); return err == nil }

func scenarios() []scenario {
	return []scenario{
		{name: "(a) upstream directly", servers: func(b *bench) ([]*proc, string, error) {
			return nil, "http://" + b.upstream + "/enterprise/v1/companies", nil
		}},
		{name: "(b) bare fasthttp reverse proxy", servers: func(b *bench) ([]*proc, string, error) { return b.self("bareproxy", "") }},
		{name: "(c) nginx keep-alive reverse proxy", servers: func(b *bench) ([]*proc, string, error) { return b.nginx(false) }},
		{name: "(d) nginx + auth_request to OPA", servers: func(b *bench) ([]*proc, string, error) { return b.nginx(true) }},
		{name: "(e1) govgate: proxy only", servers: func(b *bench) ([]*proc, string, error) { return b.self("govgate", "proxy") }},
		{name: "(e2) govgate: + policy", servers: func(b *bench) ([]*proc, string, error) { return b.self("govgate", "policy") }},
		{name: "(e3) govgate: + durable audit", servers: func(b *bench) ([]*proc, string, error) { return b.self("govgate", "policy,audit") }},
		{name: "(e4) govgate: + TLCP", tlcp: true, servers: func(b *bench) ([]*proc, string, error) { return b.self("govgate", "policy,audit,tlcp") }},
		{name: "(e5) govgate: + SM2 request signatures", tlcp: true, sign: true, servers: func(b *bench) ([]*proc, string, error) {
			return b.self("govgate", "policy,audit,tlcp,sign")
		}},
	}
}

func writeTable(out string, rows []row, duration time.Duration, runs, conns int) error {
	var s strings.Builder
	fmt.Fprintf(&s, "# Benchmarks\n\nProduced by `go run ./loadtest/bench -duration %s -runs %d -conns %d` on %s.\n\n", duration, runs, conns, time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&s, "Machine: %s, %d CPUs, %s. Servers pinned to CPU 0, the load generator (closed loop, %d connections, `loadtest` package) to CPU 1. Each row is the median of %d runs of %s. CPU is the server processes' user+system time (for (d): nginx and the authorisation service), RSS their peak resident memory.\n\n",
		cpuModel(), cpuCount(), runtime.Version(), conns, runs, duration)
	s.WriteString("| scenario | req/s | p50 µs | p99 µs | CPU s / 1k req | peak RSS MB | × (b) | × (d) | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&s, "| %s | %.0f | %.0f | %.0f | %.3f | %.0f | %.2f | %.2f | %d |\n", r.name, r.rps, r.p50, r.p99, r.cpuPer1k, r.rssMB, r.ratioBare, r.ratioNgx, r.errors)
	}
	s.WriteString("\nEvery request is the same query for an enterprise registration record by the tax bureau under agreement AGR-2025-0219 (business information: the policy decides and the fields are cut to the agreement's; no quota, so that none runs out mid-run). Rows (e1)–(e3) use plain HTTP with the consumer named by a header (a bench-only authenticate stage); (e4)–(e5) use TLCP with the department's SM2 pair, (e5) with every request SM2-signed (pre-signed before the run, so that the generator's signing does not limit it).\n")
	return os.WriteFile(out, []byte(s.String()), 0o644)
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
