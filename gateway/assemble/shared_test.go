package assemble

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto/tlcp"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/internal/redistest"
)

// fleetGateway is one gateway of a fleet under test.
type fleetGateway struct {
	listen, admin string
	a             *Assembly
}

// fleet is two gateways built through the assembly on one Redis, with the shipped policy
// where AGR-2025-0219 (110000-shuiwu reads enterprise.registration) carries a daily quota.
type fleet struct {
	t     *testing.T
	p     *testPKI
	gws   [2]*fleetGateway
	trust *tlcp.TrustSource
	proxy *switchProxy
}

// startFleet builds and starts two gateways sharing srv, each tuned by tune.
func startFleet(t *testing.T, srv *redistest.Server, perDay int, tune func(*gateway.Config), log *slog.Logger) *fleet {
	t.Helper()
	return startFleetOn(t, srv, quotaPolicy(t, perDay), startProvider(t).Addr().String(), tune, log)
}

// startFleetOn builds and starts two gateways sharing srv, on the policy in policyDir,
// with provider as the enterprise registry, each tuned by tune.
func startFleetOn(t *testing.T, srv *redistest.Server, policyDir, provider string, tune func(*gateway.Config), log *slog.Logger) *fleet {
	t.Helper()
	p := newTestPKI(t)
	f := &fleet{t: t, p: p, trust: &tlcp.TrustSource{}}
	ts, err := tlcp.NewTrustStore([]*smx509.Certificate{p.ca.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.trust.Store(ts)
	if log == nil {
		log = quiet
	}
	for i := range f.gws {
		g := &fleetGateway{listen: freeAddr(t), admin: freeAddr(t)}
		cfg := exampleConfig(t, p, g.listen, g.admin, provider)
		cfg.GatewayID = []string{"gw-a", "gw-b"}[i]
		off := false
		cfg.Policy.Dir, cfg.Policy.SkipTests, cfg.Policy.Watch = policyDir, true, &off
		cfg.Shared.Redis.Addrs = []string{srv.Addr}
		if tune != nil {
			tune(cfg)
		}
		g.a = startBuilt(t, cfg, log)
		f.gws[i] = g
	}
	f.proxy = startSwitchProxy(t, f.gws[0].listen)
	return f
}

// quotaPolicy is the shipped policy with AGR-2025-0219 given a daily quota of perDay.
func quotaPolicy(t *testing.T, perDay int) string {
	t.Helper()
	return policyWithQuota(t, "{per_day: "+strconv.Itoa(perDay)+"}")
}

// policyWithQuota is the shipped policy with AGR-2025-0219 given quota (a YAML flow map).
func policyWithQuota(t *testing.T, quota string) string {
	t.Helper()
	dir := t.TempDir()
	src := "../../rego"
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		if strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if rel == "agreements.yaml" {
			const at = "        legal_basis: 北京市政务数据共享协议 2025-0219\n"
			if !bytes.Contains(b, []byte(at)) {
				t.Fatal("agreements.yaml no longer has AGR-2025-0219 as this test expects")
			}
			b = bytes.Replace(b, []byte(at), []byte(at+"        quota: "+quota+"\n"), 1)
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// client is a department's client whose connections go to the proxy: the URL's
// authority, which the signature covers, is the same whichever gateway serves it — as
// behind a load balancer.
func (f *fleet) client() *client.Client {
	f.t.Helper()
	c, err := client.New(client.Config{Identity: &tlcp.Identity{SignCert: f.p.dept.SignCert, SignKey: f.p.dept.SignKey, EncCert: f.p.dept.EncCert, EncKey: f.p.dept.EncKey},
		Trust: f.trust, ServerName: "localhost", Timeout: 10 * time.Second})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(c.Close)
	return c
}

func (f *fleet) request() client.Request {
	return client.Request{Method: "GET", URL: "https://" + f.proxy.addr + "/enterprise/v1/companies/91110108MA01A2B3C4",
		Agreement: "AGR-2025-0219", Purpose: "tax-registration"}
}

// call sends one freshly signed request to gateway i (a new connection through the proxy).
func (f *fleet) call(i int) *client.Response {
	f.t.Helper()
	f.proxy.to(f.gws[i].listen)
	resp, err := f.client().Do(f.t.Context(), f.request())
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

// readyz is gateway i's /readyz status and body.
func (f *fleet) readyz(i int) (int, string) {
	status, body, err := fasthttp.Get(nil, "http://"+f.gws[i].admin+"/readyz")
	if err != nil {
		f.t.Fatal(err)
	}
	return status, string(body)
}

// metrics is gateway i's /metrics.
func (f *fleet) metrics(i int) string {
	_, body, err := fasthttp.Get(nil, "http://"+f.gws[i].admin+"/metrics")
	if err != nil {
		f.t.Fatal(err)
	}
	return string(body)
}

// switchProxy forwards each new TCP connection to the gateway it currently points at:
// the load balancer in front of the fleet.
type switchProxy struct {
	addr   string
	target atomic.Value
}

func startSwitchProxy(t *testing.T, target string) *switchProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &switchProxy{addr: ln.Addr().String()}
	p.to(target)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", p.target.Load().(string))
			if err != nil {
				in.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(out, in); out.Close() }()
			go func() { defer wg.Done(); io.Copy(in, out); in.Close() }()
		}
	}()
	return p
}

func (p *switchProxy) to(target string) { p.target.Store(target) }

// A signed request captured after gateway A served it, sent again to gateway B (same
// bytes, same authority, through the load balancer) is refused as a replay, and the
// refusal is audited; B serves a fresh request of the same department.
func TestFleetReplayToTheTwinIsRefused(t *testing.T) {
	srv := redistest.Start(t)
	f := startFleet(t, srv, 1000, nil, nil)
	c := f.client()
	prepared, err := c.Prepare(f.request())
	if err != nil {
		t.Fatal(err)
	}
	defer prepared.Release()
	f.proxy.to(f.gws[0].listen)
	resp, err := c.Send(t.Context(), prepared)
	if err != nil || resp.Status != 200 {
		t.Fatalf("gateway A: %v %+v", err, resp)
	}
	f.proxy.to(f.gws[1].listen)
	replay, err := f.client().Send(t.Context(), prepared)
	if err != nil {
		t.Fatal(err)
	}
	if replay.Status != 401 || !strings.Contains(string(replay.Body), "signature_replayed") || replay.Receipt == "" {
		t.Fatalf("the replay at gateway B: %d %s (receipt %q); want 401 signature_replayed, audited", replay.Status, replay.Body, replay.Receipt)
	}
	if resp := f.call(1); resp.Status != 200 {
		t.Fatalf("a fresh request at gateway B: %d %s", resp.Status, resp.Body)
	}
}

// Concurrent load from one department spread over both gateways is admitted exactly up
// to the agreement's daily quota; every other request is 429 quota_exceeded.
func TestFleetQuotaIsOneForTheFleet(t *testing.T) {
	if h := time.Now().UTC(); h.Hour() == 15 && h.Minute() == 59 {
		t.Skip("the Beijing day turns over during this test")
	}
	const quota, workers, each = 20, 6, 8
	srv := redistest.Start(t)
	f := startFleet(t, srv, quota, nil, nil)
	clients := make([]*client.Client, workers)
	for w := range clients {
		f.proxy.to(f.gws[w%2].listen)
		clients[w] = f.client()
		if _, err := clients[w].Do(t.Context(), client.Request{Method: "GET", URL: "https://" + f.proxy.addr + "/no-such-route"}); err != nil {
			t.Fatal(err) // opens the worker's connection to its gateway (a 404 uses no quota)
		}
	}
	var ok, limited, other atomic.Int64
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				resp, err := clients[w].Do(context.Background(), f.request())
				switch {
				case err != nil:
					t.Error(err)
				case resp.Status == 200:
					ok.Add(1)
				case resp.Status == 429 && strings.Contains(string(resp.Body), "quota_exceeded"):
					limited.Add(1)
				default:
					other.Add(1)
					t.Errorf("%d %s", resp.Status, resp.Body)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != quota || limited.Load() != workers*each-quota {
		t.Fatalf("admitted %d, 429 %d, other %d of %d over two gateways; want exactly %d admitted", ok.Load(), limited.Load(), other.Load(), workers*each, quota)
	}
	// Both gateways served some: the load was spread.
	for i := range f.gws {
		if !strings.Contains(f.metrics(i), "govgate_shared_state_up 1") {
			t.Errorf("gateway %d: govgate_shared_state_up is not 1", i)
		}
	}
}

// Redis killed mid-run with the default refuse: signed requests are 503
// replay_store_unavailable (audited), /readyz is not ready and says why, the metric is 0;
// Redis restarted: /readyz is ready again within the ping interval, requests are served,
// and a request served before the outage is still a replay (the claims survived).
func TestFleetRedisOutageRefusesThenRecovers(t *testing.T) {
	srv := redistest.Start(t)
	f := startFleet(t, srv, 1000, nil, nil)
	c := f.client()
	before, err := c.Prepare(f.request())
	if err != nil {
		t.Fatal(err)
	}
	defer before.Release()
	if resp, err := c.Send(t.Context(), before); err != nil || resp.Status != 200 {
		t.Fatalf("before the outage: %v %+v", err, resp)
	}
	srv.Stop()
	for i := range f.gws {
		resp := f.call(i)
		if resp.Status != 503 || !strings.Contains(string(resp.Body), "replay_store_unavailable") || resp.Receipt == "" {
			t.Fatalf("gateway %d with redis down: %d %s (receipt %q); want 503 replay_store_unavailable, audited", i, resp.Status, resp.Body, resp.Receipt)
		}
		status, body := f.readyz(i)
		if status != 503 || !strings.Contains(body, "redis unreachable") {
			t.Fatalf("gateway %d /readyz with redis down: %d %s", i, status, body)
		}
		if m := f.metrics(i); !strings.Contains(m, "govgate_shared_state_up 0") || !strings.Contains(m, `govgate_shared_state_errors_total{op="claim"}`) {
			t.Fatalf("gateway %d metrics with redis down lack up 0 / claim errors", i)
		}
	}
	srv.Restart()
	for i := range f.gws {
		waitFor(t, "/readyz to recover", func() bool { s, _ := f.readyz(i); return s == 200 })
		if resp := f.call(i); resp.Status != 200 {
			t.Fatalf("gateway %d after recovery: %d %s", i, resp.Status, resp.Body)
		}
	}
	f.proxy.to(f.gws[1].listen)
	if resp, err := f.client().Send(t.Context(), before); err != nil || resp.Status != 401 {
		t.Fatalf("a request served before the outage, replayed after it: %v %+v", err, resp)
	}
}

// on_failure local: with Redis down the gateways keep serving but say they are weaker:
// /readyz ready with a DEGRADED warning, govgate_shared_state_degraded 1 for both
// features; a replay to the same gateway is still refused.
func TestFleetLocalFallbackSaysDegraded(t *testing.T) {
	srv := redistest.Start(t)
	f := startFleet(t, srv, 1000, func(c *gateway.Config) {
		c.Shared.OnFailure = gateway.SharedOnFailure{Replay: gateway.OnFailureLocal, Quota: gateway.OnFailureLocal}
	}, nil)
	srv.Stop()
	c := f.client()
	p, err := c.Prepare(f.request())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	f.proxy.to(f.gws[0].listen)
	if resp, err := c.Send(t.Context(), p); err != nil || resp.Status != 200 {
		t.Fatalf("local fallback: %v %+v", err, resp)
	}
	if resp, err := f.client().Send(t.Context(), p); err != nil || resp.Status != 401 {
		t.Fatalf("a replay to the same gateway on its local fallback: %v %+v", err, resp)
	}
	status, body := f.readyz(0)
	if status != 200 || !strings.Contains(body, "DEGRADED") {
		t.Fatalf("/readyz on the local fallback: %d %s", status, body)
	}
	m := f.metrics(0)
	for _, want := range []string{`govgate_shared_state_degraded{feature="replay"} 1`, `govgate_shared_state_degraded{feature="quota"} 1`, "govgate_shared_state_up 0"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// The Redis password comes from the environment variable the config names, and appears
// in no log line (debug included) and not in GET /config; a gateway whose variable is
// unset does not build.
func TestFleetCredentialsFromEnvNeverLogged(t *testing.T) {
	const secret = "fleet-pass-9f3Kq"
	srv := redistest.Start(t, redistest.WithPassword(secret))
	t.Setenv("GOVGATE_TEST_REDIS_PW", secret)
	var logs syncLog
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := startFleet(t, srv, 1000, func(c *gateway.Config) { c.Shared.Redis.PasswordEnv = "GOVGATE_TEST_REDIS_PW" }, log)
	if resp := f.call(0); resp.Status != 200 {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	srv.Stop() // a failure logs the error: still no secret
	f.call(1)
	_, cfgBody, _ := fasthttp.Get(nil, "http://"+f.gws[0].admin+"/config")
	if strings.Contains(logs.String(), secret) || strings.Contains(string(cfgBody), secret) {
		t.Fatal("the redis password reached a log line or GET /config")
	}
	if !strings.Contains(logs.String(), "redis cannot answer") {
		t.Fatal("the outage was not logged")
	}
	os.Unsetenv("GOVGATE_TEST_REDIS_PW")
	cfg := exampleConfig(t, f.p, freeAddr(t), freeAddr(t), "127.0.0.1:1")
	cfg.Shared.Redis.Addrs, cfg.Shared.Redis.PasswordEnv = []string{srv.Addr}, "GOVGATE_TEST_REDIS_PW"
	if a, err := Build(t.Context(), cfg, Options{Logger: quiet}); err == nil {
		a.Close()
		t.Fatal("built with the password variable unset")
	} else if !strings.Contains(err.Error(), "GOVGATE_TEST_REDIS_PW") {
		t.Fatalf("error does not name the variable: %v", err)
	}
}

type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Redis loses its data (FLUSHALL: what a restart without appendonly does): each gateway
// notices within its ping interval, says so in the log and the metric, and claims again
// the nonces its audit log recorded, so a request gateway A served before the loss is
// still refused when replayed to gateway B after it.
func TestFleetRedisDataLossClaimsAgainFromTheAuditLog(t *testing.T) {
	srv := redistest.Start(t)
	f := startFleet(t, srv, 1000, nil, nil)
	c := f.client()
	served, err := c.Prepare(f.request())
	if err != nil {
		t.Fatal(err)
	}
	defer served.Release()
	f.proxy.to(f.gws[0].listen)
	if resp, err := c.Send(t.Context(), served); err != nil || resp.Status != 200 {
		t.Fatalf("before the loss: %v %+v", err, resp)
	}
	srv.MustDo("FLUSHALL")
	for i := range f.gws {
		waitFor(t, "the gateway to notice the loss", func() bool {
			return strings.Contains(f.metrics(i), "govgate_shared_state_data_lost_total 1")
		})
	}
	waitFor(t, "both markers and gateway A's nonce to be back", func() bool {
		markers, _ := srv.Do("KEYS", gateway.DefaultRedisKeyPrefix+"{marker}:*")
		nonces, _ := srv.Do("KEYS", gateway.DefaultRedisKeyPrefix+"{110000-shuiwu}:n:*")
		return strings.Count(markers, "{marker}") == 2 && strings.Count(nonces, ":n:") == 1
	})
	f.proxy.to(f.gws[1].listen)
	if resp, err := f.client().Send(t.Context(), served); err != nil || resp.Status != 401 || !strings.Contains(string(resp.Body), "signature_replayed") {
		t.Fatalf("a request served before the loss, replayed to the twin after it: %v %+v", err, resp)
	}
}

// A gateway whose Redis cannot be reached is not built (whatever on_failure says), and
// the failed build leaves nothing running: no goroutine of the Redis client, no listener.
func TestBuildWithoutRedisFailsAndReleases(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := newTestPKI(t)
	cfg := exampleConfig(t, p, freeAddr(t), freeAddr(t), "127.0.0.1:1")
	cfg.Shared.Redis.Addrs = []string{freeAddr(t)}
	cfg.Shared.OnFailure = gateway.SharedOnFailure{Replay: gateway.OnFailureLocal, Quota: gateway.OnFailureAllow}
	a, err := Build(t.Context(), cfg, Options{Logger: quiet})
	if err == nil {
		a.Close()
		t.Fatal("built without a reachable redis")
	}
	if !strings.Contains(err.Error(), "build shared state") {
		t.Fatalf("error %v; want it from the shared state", err)
	}
	for _, addr := range []string{cfg.Admin.Address, cfg.Listeners[0].Address} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s bound after a failed build: %v", addr, err)
		}
		ln.Close()
	}
}

// Close releases the Redis client and the health watcher with the rest.
func TestCloseReleasesTheRedisClient(t *testing.T) {
	srv := redistest.Start(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := newTestPKI(t)
	cfg := exampleConfig(t, p, freeAddr(t), freeAddr(t), "127.0.0.1:1")
	cfg.Shared.Redis.Addrs = []string{srv.Addr}
	a, err := Build(t.Context(), cfg, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}
