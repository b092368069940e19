package gateway

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/govgate/govgate/internal/race"
)

// proxyBench is one proxied request path over in-memory listeners: client → front server
// (a bare fasthttp proxy or the govgate pipeline) → upstream. Everything but the front
// handler is the same on both sides, so the difference is the gateway's own cost.
type proxyBench struct {
	client   *fasthttp.HostClient
	closeAll func()
}

func startBenchUpstream() *fasthttputil.InmemoryListener {
	ln := fasthttputil.NewInmemoryListener()
	body := []byte(`{"count":1,"data":[{"name":"张伟","id_number":"110101199003077777","address":"北京市东城区"}]}`)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}}
	go srv.Serve(ln)
	return ln
}

func frontClient(front *fasthttputil.InmemoryListener) *fasthttp.HostClient {
	return &fasthttp.HostClient{Addr: "gw", Dial: func(string) (net.Conn, error) { return front.Dial() }, MaxConns: 1024}
}

// newBareProxy is the ceiling: a fasthttp reverse proxy of a few lines.
func newBareProxy() *proxyBench {
	up := startBenchUpstream()
	hc := &fasthttp.HostClient{Addr: "up", Dial: func(string) (net.Conn, error) { return up.Dial() }, MaxConns: 1024}
	front := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if err := hc.Do(&ctx.Request, &ctx.Response); err != nil {
			ctx.Error(err.Error(), fasthttp.StatusBadGateway)
		}
	}}
	go srv.Serve(front)
	return &proxyBench{client: frontClient(front), closeAll: func() { front.Close(); up.Close() }}
}

// newGovgateProxy is the gateway's pipeline with the proxy's own stages (no pluggable stage).
func newGovgateProxy(tb testing.TB) *proxyBench {
	up := startBenchUpstream()
	cfg := testConfig("127.0.0.1:1")
	g, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range g.rt.Load().pools["population"].members {
		m.client.DialTimeout = func(string, time.Duration) (net.Conn, error) { return up.Dial() }
	}
	front := fasthttputil.NewInmemoryListener()
	rl := &runningListener{cfg: cfg.Listeners[0], limits: cfg.Limits, ln: front, open: g.metrics.openConns("ext")}
	srv := g.newServer(rl)
	go srv.Serve(front)
	return &proxyBench{client: frontClient(front), closeAll: func() { front.Close(); up.Close() }}
}

func (p *proxyBench) roundTrip(tb testing.TB, req *fasthttp.Request, resp *fasthttp.Response) {
	if err := p.client.Do(req, resp); err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode() != 200 {
		tb.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
	}
}

func benchRequest() *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.SetRequestURI("/population/v1/persons?id=110101199003077777")
	req.Header.SetHost("gw")
	req.Header.Set("X-Govgate-Purpose", "social-insurance-check")
	req.Header.Set("X-Govgate-Agreement", "AGR-2026-0042")
	return req
}

// BenchmarkProxy reports ns/op and allocs/op of one proxied request for the bare proxy and
// for govgate in the same run; compare the two rows (benchstat, or by eye).
func BenchmarkProxy(b *testing.B) {
	for _, c := range []struct {
		name  string
		start func(testing.TB) *proxyBench
	}{
		{"bare", func(testing.TB) *proxyBench { return newBareProxy() }},
		{"govgate", newGovgateProxy},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := c.start(b)
			defer p.closeAll()
			req := benchRequest()
			resp := fasthttp.AcquireResponse()
			p.roundTrip(b, req, resp) // warm the pools
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.roundTrip(b, req, resp)
			}
		})
	}
}

// TestGatewayAllocationBudget holds the gateway to its allocation budget: its own code may
// add at most 4 allocations per request to what a bare fasthttp proxy does. Allocation
// counts, unlike times, do not depend on how busy the machine is.
func TestGatewayAllocationBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation measurement skipped in -short")
	}
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector (sync.Pool drops items at random)")
	}
	measure := func(p *proxyBench) float64 {
		defer p.closeAll()
		req := benchRequest()
		resp := fasthttp.AcquireResponse()
		for i := 0; i < 100; i++ {
			p.roundTrip(t, req, resp)
		}
		return testing.AllocsPerRun(2000, func() { p.roundTrip(t, req, resp) })
	}
	bare := measure(newBareProxy())
	gov := measure(newGovgateProxy(t))
	t.Logf("allocs per request: bare proxy %.2f, govgate %.2f", bare, gov)
	if gov-bare > 4 {
		t.Errorf("govgate adds %.2f allocations per request; the budget is 4", gov-bare)
	}
}
