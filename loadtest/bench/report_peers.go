package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// writePeerComparison closes the report: (e4) set against what a department deploys
// without govgate, nginx with auth_request to the stock OPA server, in plain HTTP (d) and
// terminating TLS (d2), from the same run.
func writePeerComparison(s *strings.Builder, rows []row) {
	e4, d, d2 := findRow(rows, "(e4)"), findRow(rows, "(d)"), findRow(rows, "(d2)")
	if e4 == nil || d == nil {
		return
	}
	s.WriteString("\n## (e4) against nginx + the stock OPA server\n\n")
	fmt.Fprintf(s, "(d) and (d2) are what a department runs without govgate: nginx (one worker) with `auth_request` to the stock OPA server, `opa run --server` (OPA %s, built from the module govgate embeds), loaded with govgate's `rego/` — the same policy and data — and one rule of entry point, `allow if data.govgate.authz.allow`, because `auth_request` reads only the status and OPA's default decision (`POST /`) answers 404 when it is undefined (nginx maps that to 403). nginx builds the input document itself (`proxy_set_body`, from the request's headers, each let through only if it needs no JSON escaping), so no process stands between nginx and OPA. (d) is plain HTTP; (d2) terminates TLS 1.2 with %s on a P-256 certificate, keep-alive from the load generator to nginx and from nginx to the upstream and to OPA: the channel-encrypted peer of (e4), whose TLCP channel is SM2 and SM4. Neither writes an audit record or authenticates the consumer by certificate (the department is named by a header); (e4) does both, and waits on a durable audit commit for every exchange. The stock server evaluates the policy for every request; govgate's policy stage answers a repeated question from its decision cache, keyed by the input fields the policy reads.\n\n",
		opaVersion(), nginxTLSCipher)
	s.WriteString("| row | req/s | p50 µs | p99 µs | CPU s / 1k req | of which the OPA server | peak RSS MB | (e4)'s throughput ÷ the row's | (e4)'s CPU per request ÷ the row's |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range []*row{e4, d, d2} {
		if r == nil {
			continue
		}
		opa := "–"
		if r.opaCPUPer1k > 0 {
			opa = fmt.Sprintf("%.3f", r.opaCPUPer1k)
		}
		fmt.Fprintf(s, "| %s | %.0f | %.0f | %.0f | %.3f | %s | %.0f | %.2f | %.2f |\n", r.name, r.rps, r.p50, r.p99, r.cpuPer1k, opa, r.rssMB, e4.rps/r.rps, e4.cpuPer1k/r.cpuPer1k)
	}
	fmt.Fprintf(s, "\n(e4) answers %.2f × as many requests as (d)", e4.rps/d.rps)
	if d2 != nil {
		fmt.Fprintf(s, " and %.2f × as many as (d2), its encrypted peer; terminating TLS takes %.0f %% off (d)'s throughput", e4.rps/d2.rps, 100*(d.rps-d2.rps)/d.rps)
	}
	s.WriteString(".\n")
}

// opaVersion is the version of the OPA module this program was built with, the one the
// bench builds `opa` from.
func opaVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == opaModule {
				return m.Version
			}
		}
	}
	return "(unknown version)"
}
