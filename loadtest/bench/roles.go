package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/assemble"
)

// record is what the upstream answers: an enterprise registration, as the demo's registry.
const record = `{"uscc":"91110108MA01A2B3C4","name":"北京数联科技有限公司","legal_representative":"陈明","type":"有限责任公司(自然人投资或控股)","registered_capital":"1000万元人民币","established_on":"2018-05-16","status":"存续(在营、开业、在册)","address":"北京市海淀区知春路56号8层801","business_scope":"技术开发、技术咨询、技术服务；数据处理","registration_authority":"北京市海淀区市场监督管理局"}`

// serve runs one server role until SIGTERM.
func serve(role, addr, upstream, stages, dir, profile string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if role == "govgate" || role == "bareproxy" {
		allocs := newAllocCounter()
		defer allocs.write(allocsFile(dir, addr))
	}
	switch role {
	case "upstream":
		return serveUntil(ctx, addr, func(c *fasthttp.RequestCtx) {
			c.SetContentType("application/json; charset=utf-8")
			c.SetBodyString(record)
		})
	case "bareproxy":
		hc := &fasthttp.HostClient{Addr: upstream, MaxConns: 4096}
		return serveUntil(ctx, addr, func(c *fasthttp.RequestCtx) {
			if err := hc.Do(&c.Request, &c.Response); err != nil {
				c.Error("upstream", fasthttp.StatusBadGateway)
			}
		})
	case "govgate":
		return serveGovgate(ctx, addr, upstream, stages, dir, profile)
	}
	return fmt.Errorf("unknown role %q", role)
}

func serveUntil(ctx context.Context, addr string, h fasthttp.RequestHandler) error {
	srv := &fasthttp.Server{Handler: h, Name: "bench"}
	go func() { <-ctx.Done(); srv.Shutdown() }()
	return srv.ListenAndServe(addr)
}

// serveGovgate runs govgate as the assembly builds it for serve, with the parts the row
// does not measure yet left out through the assembly's options: the rows switch the stages
// on one at a time (stages names them: tlcp, policy, audit; tmpfs puts the audit log on
// /dev/shm, memlimit sets limits.memory_limit as docs/architecture.md advises,
// commitdelay sets audit.commit_delay).
func serveGovgate(ctx context.Context, addr, upstream, stages, dir, profile string) error {
	gateway.ReserveSyscallProc() // as govgate serve does
	on := func(s string) bool { return strings.Contains(stages, s) }
	parent := dir
	if on("tmpfs") {
		parent = "/dev/shm"
	}
	state, err := os.MkdirTemp(parent, "govgate-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	yaml := fmt.Sprintf(`gateway_id: gw-bench
admin: {address: "127.0.0.1:0"}
listeners: [{name: ext, address: %q, zone: external, transport: %s}]
routes: [{id: enterprise-query, path_prefix: /enterprise/v1, resource: enterprise.registration, mode: query, pool: registry, target_zone: internal, timeout: 10s}]
pools: [{id: registry, addresses: [%q]}]
limits: {max_conns_per_client: 4096%s} # every bench connection comes from 127.0.0.1
audit: {dir: %q%s}
keys: {dir: %q}
`, addr, map[bool]string{true: "tlcp", false: "plain"}[on("tlcp")], upstream, memoryLimits(on("memlimit")), filepath.Join(state, "audit"), commitDelay(on("commitdelay")), filepath.Join(state, "keys"))
	if on("tlcp") {
		yaml += fmt.Sprintf("tlcp: {sign_cert: %q, sign_key: %q, enc_cert: %q, enc_key: %q, client_ca: %q}\n",
			filepath.Join(dir, "gw-sign.pem"), filepath.Join(dir, "gw-sign.key"), filepath.Join(dir, "gw-enc.pem"), filepath.Join(dir, "gw-enc.key"), filepath.Join(dir, "ca", "ca.pem"))
	}
	extra, err := sharedConfig(stages, state)
	if err != nil {
		return err
	}
	yaml += extra
	cfg, err := gateway.ParseConfig([]byte(yaml))
	if err != nil {
		return err
	}
	gateway.SetRuntimeMemory(cfg.Limits) // as govgate serve does
	opts := assemble.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if !on("policy") {
		opts.Without |= assemble.Policy
	}
	if !on("audit") {
		opts.Without |= assemble.Audit
	}
	var commits *commitTimes
	if on("audit") {
		commits = newCommitTimes()
		opts.OnCommit = commits.observe
	}
	a, err := assemble.Build(ctx, cfg, opts)
	if err != nil {
		return err
	}
	if commits != nil {
		defer commits.write(commitsFile(dir, addr)) // after the last commit, at Close
	}
	defer a.Close()
	if err := a.Gateway.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	if profile != "" {
		if err := writeHeapProfile(profile + ".heap"); err != nil {
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return a.Gateway.Shutdown(sctx)
}

// writeHeapProfile records the live heap while the connections are still open.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

// benchCommitDelay is the commitdelay row's audit.commit_delay: about one sync of the
// bench's disk (its probe's p50, 0.23–0.27 ms), so that a held batch gathers about what
// arrives during a commit again.
const benchCommitDelay = "300us"

// commitDelay is the commitdelay row's audit key.
func commitDelay(on bool) string {
	if !on {
		return ""
	}
	return ", commit_delay: " + benchCommitDelay
}

// memoryLimits are the memlimit rows' limits: 128 MiB for the runtime (GOGC 200 under it,
// the default), and a release budget small enough for it (the config refuses a limit
// below twice the budget and 64 MiB); the bench's responses are not compressed, so the
// smaller budget changes nothing else.
func memoryLimits(on bool) string {
	if !on {
		return ""
	}
	return ", memory_limit: 134217728, release_memory: 33554432, max_decompressed_bytes: 4194304"
}
