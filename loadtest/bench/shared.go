package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/govgate/govgate/rego"
)

// The (h) rows measure the shared state of a fleet (sharedstate): what counting the
// agreement's quota and claiming each signature's nonce in Redis adds to a request, beside
// the same rows with both kept in memory, in the same run. (e4) has no quota and (e4)'s
// requests are unsigned, so shared state would add no round trip to it: the (h) rows give
// the agreement a quota that cannot run out mid-run.
func sharedScenarios() []scenario {
	withRedis := func(stages string) func(b *bench) ([]*proc, string, error) {
		return func(b *bench) ([]*proc, string, error) {
			addr := freeAddr()
			port := addr[strings.LastIndex(addr, ":")+1:]
			// A fresh server per measurement: no claims carried from the run before. Pinned
			// with the servers (its CPU counts in the row's), durable as the docs ask of a
			// fleet's Redis (appendonly, fsync every second).
			rp, err := b.run([]string{"redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "yes",
				"--appendfsync", "everysec", "--dir", b.dir, "--appendfilename", "bench-" + port + ".aof", "--appenddirname", "redis-" + port,
				"--maxmemory-policy", "noeviction", "--loglevel", "warning"}, addr)
			if err != nil {
				return nil, "", fmt.Errorf("redis-server (apt-get install redis-server): %w", err)
			}
			procs, url, err := b.self("govgate", stages+",redis@"+addr)
			if err != nil {
				rp.stop()
				return nil, "", err
			}
			return append(procs, rp), url, nil
		}
	}
	local := func(stages string) func(b *bench) ([]*proc, string, error) {
		return func(b *bench) ([]*proc, string, error) { return b.self("govgate", stages) }
	}
	return []scenario{
		{name: "(h1) (e4) + a quota, counted in memory", tlcp: true, servers: local("policy,audit,tlcp,quota")},
		{name: "(h2) (h1) with the quota counted in Redis", tlcp: true, servers: withRedis("policy,audit,tlcp,quota")},
		{name: "(h3) (e5) + a quota, nonces and quota in memory", tlcp: true, sign: true, servers: local("policy,audit,tlcp,sign,quota")},
		{name: "(h4) (h3) with nonces and quota in Redis", tlcp: true, sign: true, servers: withRedis("policy,audit,tlcp,sign,quota")},
	}
}

// sharedConfig is what the (h) rows add to the bench gateway's config: a policy whose
// agreement has a quota (1,000,000,000 a day) and, with redis@ADDR, the shared section.
func sharedConfig(stages, state string) (string, error) {
	var out string
	if strings.Contains(stages, "quota") {
		dir := filepath.Join(state, "policy")
		if err := rego.WriteTo(dir); err != nil {
			return "", err
		}
		path := filepath.Join(dir, "agreements.yaml")
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		const at = "        legal_basis: 北京市政务数据共享协议 2025-0219\n"
		if !bytes.Contains(b, []byte(at)) {
			return "", fmt.Errorf("%s: AGR-2025-0219 is not where the bench expects it", path)
		}
		b = bytes.Replace(b, []byte(at), []byte(at+"        quota: {per_day: 1000000000}\n"), 1)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return "", err
		}
		out += fmt.Sprintf("policy: {dir: %q, skip_tests: true, watch: false}\n", dir)
	}
	for _, s := range strings.Split(stages, ",") {
		if addr, ok := strings.CutPrefix(s, "redis@"); ok {
			out += fmt.Sprintf("shared: {redis: {addrs: [%q]}}\n", addr)
		}
	}
	return out, nil
}

// writeShared reports what the shared state adds per request: each Redis row against its
// in-memory twin of the same run.
func writeShared(s *strings.Builder, rows []row) {
	h1, h2, h3, h4 := findRow(rows, "(h1)"), findRow(rows, "(h2)"), findRow(rows, "(h3)"), findRow(rows, "(h4)")
	if h1 == nil || h2 == nil || h3 == nil || h4 == nil {
		return
	}
	s.WriteString("\n## Shared state in Redis\n\nThe (h) rows give AGR-2025-0219 a daily quota that cannot run out mid-run; (h2) and (h4) keep it (and, in (h4), every signature's nonce) in one local `redis-server` (appendonly, fsync every second; its CPU counts in the row's), through package sharedstate: one round trip for the quota, one for the nonce. Added per request, against the in-memory twin of the same run:\n\n")
	s.WriteString("| rows | Redis round trips per request | req/s | added p50 µs | added p99 µs | added CPU s / 1k req |\n|---|---:|---:|---:|---:|---:|\n")
	for _, pair := range [][2]*row{{h1, h2}, {h3, h4}} {
		local, shared := pair[0], pair[1]
		trips := 1
		if strings.HasPrefix(shared.name, "(h4)") {
			trips = 2
		}
		fmt.Fprintf(s, "| %s → %s | %d | %.0f → %.0f | %+.0f | %+.0f | %+.3f |\n", local.name[:4], shared.name[:4], trips,
			local.rps, shared.rps, shared.p50-local.p50, shared.p99-local.p99, shared.cpuPer1k-local.cpuPer1k)
	}
}
