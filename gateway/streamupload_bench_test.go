package gateway

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// newGovgateProxyUploads is newGovgateProxy with request bodies read as streams, as when
// a route of the config streams (Config.StreamsUploads): every query request's body is
// then read whole by prepareRequestBody rather than by fasthttp.
func newGovgateProxyUploads(tb testing.TB) *proxyBench {
	up := startBenchUpstream()
	cfg := testConfig("127.0.0.1:1")
	cfg.Routes = append(cfg.Routes, Route{ID: "upload", PathPrefix: "/upload", Resource: "geographic.tiles", Mode: ModeExchange,
		Pool: "population", TargetZone: ZoneInternal, Timeout: 2 * time.Second})
	cfg.applyDefaults()
	g, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range g.rt.Load().pools["population"].members {
		m.client.DialTimeout = func(string, time.Duration) (net.Conn, error) { return up.Dial() }
	}
	front := fasthttputil.NewInmemoryListener()
	rl := &runningListener{cfg: cfg.Listeners[0], limits: cfg.Limits, uploads: cfg.StreamsUploads(), ln: front, open: g.metrics.openConns("ext")}
	if !rl.uploads {
		tb.Fatal("the config streams no route")
	}
	srv := g.newServer(rl)
	go srv.Serve(front)
	return &proxyBench{client: frontClient(front), closeAll: func() { front.Close(); up.Close() }}
}

// BenchmarkProxyUploads: the small-request path of a query route with request bodies read
// as streams (uploads) against the same gateway without (as before streamed uploads), and
// the bare proxy, in one run: a GET, and a POST with a 1 KiB JSON body.
//
//	go test -run XXX -bench BenchmarkProxyUploads -count 5 ./gateway/
func BenchmarkProxyUploads(b *testing.B) {
	body := []byte(`{"ids":[` + string(make([]byte, 0)) + `"110101199003077777"` + `]}`)
	for len(body) < 1024 {
		body = append(body[:len(body)-2], []byte(`,"110101199003077777"]}`)...)
	}
	for _, m := range []struct {
		name string
		body []byte
	}{{"get", nil}, {"post1k", body}} {
		for _, c := range []struct {
			name  string
			start func(testing.TB) *proxyBench
		}{
			{"bare", func(testing.TB) *proxyBench { return newBareProxy() }},
			{"govgate", newGovgateProxy},
			{"govgate-uploads", newGovgateProxyUploads},
		} {
			b.Run(m.name+"/"+c.name, func(b *testing.B) {
				p := c.start(b)
				defer p.closeAll()
				req := benchRequest()
				if m.body != nil {
					req.Header.SetMethod("POST")
					req.Header.SetContentType("application/json")
					req.SetBody(m.body)
				}
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
}
