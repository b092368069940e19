package gateway_test

import (
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/valyala/fasthttp"
)

// startBareProxy is the baseline: a fasthttp reverse proxy that streams the provider's
// response through untouched — no policy, no cut, no digest, no record.
func startBareProxy(b *testing.B, upstream string) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hc := &fasthttp.HostClient{Addr: upstream, StreamResponseBody: true, ReadBufferSize: 16 << 10}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if err := hc.Do(&ctx.Request, &ctx.Response); err != nil {
			ctx.Error(err.Error(), fasthttp.StatusBadGateway)
		}
	}}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// BenchmarkStreamCSV: MB/s of a 32 MiB CSV of registration changes (bytes the provider
// sends) through the bare proxy, through the gateway cut to the agreement's columns (four
// of ten, one masked, SM3 of both sides, a record per transfer), and through the gateway
// passed whole on an opaque route; same run, same provider.
func BenchmarkStreamCSV(b *testing.B) {
	block, _ := registrationBlock(256 << 10)
	n := (32 << 20) / len(block)
	size := int64(len(registrationHeader) + n*len(block))
	g := startPolicyGateway(b, 0, bulkProvider("text/csv", block, n), withStreamRoutes(0))
	bare := startBareProxy(b, g.up.addr)
	client := &http.Client{}
	for _, tc := range []struct{ name, url string }{
		{"bare-proxy", bare + "/ent/changes.csv"},
		{"gateway-column-cut", g.base + "/ent/changes.csv"},
		{"gateway-opaque", g.base + "/bulk/tiles/changes.csv"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				req, _ := newGet(tc.url, exchanger)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != 200 {
					b.Fatalf("%d %v", resp.StatusCode, err)
				}
				resp.Body.Close()
			}
		})
	}
}
