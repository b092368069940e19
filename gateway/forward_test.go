package gateway_test

import (
	"strings"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"

	"github.com/valyala/fasthttp"
)

func TestForwardGetAndPost(t *testing.T) {
	up := startUpstream(t, nil)
	gw := startGateway(t, testConfig(up.addr), Options{})

	status, hdr, body := do(t, "GET", gw.base+"/population/v1/persons?id=110101199003077777&fields=name", "", nil)
	if status != 200 {
		t.Fatalf("GET status %d: %s", status, body)
	}
	e := decodeEcho(t, body)
	if e.Method != "GET" || e.URI != "/population/v1/persons?id=110101199003077777&fields=name" {
		t.Errorf("upstream saw %s %s", e.Method, e.URI)
	}
	if hdr.Get("X-Request-Id") == "" || hdr.Get("X-Request-Id") != e.Headers["x-request-id"] {
		t.Errorf("X-Request-Id: client got %q, upstream got %q", hdr.Get("X-Request-Id"), e.Headers["x-request-id"])
	}

	payload := `{"id_numbers":["110101199003077777","110105198811230026"]}`
	status, _, body = do(t, "POST", gw.base+"/population/v1/persons:batch?src=test", payload, map[string]string{"Content-Type": "application/json"})
	if status != 200 {
		t.Fatalf("POST status %d: %s", status, body)
	}
	e = decodeEcho(t, body)
	if e.Method != "POST" || e.Body != payload || e.Headers["content-type"] != "application/json" {
		t.Errorf("upstream saw %s body %q content-type %q", e.Method, e.Body, e.Headers["content-type"])
	}
}

func TestBodyLimit(t *testing.T) {
	up := startUpstream(t, nil)
	cfg := testConfig(up.addr)
	cfg.Routes[0].MaxBodyBytes = 1024
	gw := startGateway(t, cfg, Options{})

	status, _, body := do(t, "POST", gw.base+"/population/v1/upload", strings.Repeat("a", 1024), nil)
	if status != 200 || decodeEcho(t, body).Body != strings.Repeat("a", 1024) {
		t.Fatalf("body at the limit: status %d", status)
	}
	before := up.hits.Load()
	status, _, body = do(t, "POST", gw.base+"/population/v1/upload", strings.Repeat("a", 1025), nil)
	if status != 413 || errorCode(t, body) != "body_too_large" {
		t.Fatalf("one byte over: status %d %s", status, body)
	}
	if up.hits.Load() != before {
		t.Error("an oversized body reached the upstream")
	}
	// Chunked bodies are bounded the same way: no Content-Length to trust.
	c := dialRaw(t, gw.base)
	resp, body := c.roundTrip(t, "POST /population/v1/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n401\r\n"+strings.Repeat("b", 1025)+"\r\n0\r\n\r\n")
	if resp.StatusCode != 413 {
		t.Fatalf("chunked over the limit: status %d %s", resp.StatusCode, body)
	}
}

func TestHopByHopHeadersRemoved(t *testing.T) {
	up := startUpstream(t, func(ctx *fasthttp.RequestCtx) bool {
		if string(ctx.Path()) != "/population/v1/hop" {
			return false
		}
		ctx.Response.Header.Set("Connection", "X-Provider-Hop")
		ctx.Response.Header.Set("X-Provider-Hop", "secret-to-this-connection")
		ctx.Response.Header.Set("Keep-Alive", "timeout=5")
		ctx.Response.Header.Set("X-Kept", "yes")
		return true
	})
	// X-Kept is an end-to-end field the route releases beyond the allowlist.
	cfg := testConfig(up.addr)
	cfg.Routes[0].ResponseHeaders = []string{"X-Kept"}
	gw := startGateway(t, cfg, Options{})

	c := dialRaw(t, gw.base)
	resp, body := c.roundTrip(t, "GET /population/v1/persons HTTP/1.1\r\nHost: gw\r\n"+
		"Connection: keep-alive, X-Client-Hop\r\nX-Client-Hop: 1\r\nKeep-Alive: timeout=5\r\n"+
		"TE: trailers\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\n"+
		"Upgrade: websocket\r\nTrailer: X-Sum\r\nX-Kept: yes\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	e := decodeEcho(t, body)
	for _, h := range []string{"x-client-hop", "keep-alive", "te", "proxy-authorization", "proxy-connection", "upgrade", "trailer"} {
		if v, ok := e.Headers[h]; ok {
			t.Errorf("hop-by-hop %s reached the upstream: %q", h, v)
		}
	}
	if e.Headers["x-kept"] != "yes" {
		t.Error("an end-to-end header was dropped")
	}

	resp, _ = c.roundTrip(t, "GET /population/v1/hop HTTP/1.1\r\nHost: gw\r\n\r\n")
	if resp.Header.Get("X-Provider-Hop") != "" || resp.Header.Get("Keep-Alive") != "" {
		t.Errorf("response hop-by-hop headers crossed: %v", resp.Header)
	}
	if resp.Header.Get("X-Kept") != "yes" {
		t.Error("response end-to-end header dropped")
	}
}

func TestGovgateHeadersStrippedAndForwardedHeadersSet(t *testing.T) {
	up := startUpstream(t, func(ctx *fasthttp.RequestCtx) bool {
		if string(ctx.Path()) != "/population/v1/forge" {
			return false
		}
		ctx.Response.Header.Set("X-Govgate-Receipt", "log=forged; index=1; leaf=00")
		ctx.SetBodyString("{}")
		return true
	})
	decider := &recordingDecider{}
	gw := startGateway(t, testConfig(up.addr), Options{Stages: Stages{Decide: decider}})

	status, _, body := do(t, "GET", gw.base+"/population/v1/persons", "", map[string]string{
		"X-Govgate-Dept":        "110000-gongan",
		"x-govgate-cert-serial": "01",
		"X-GOVGATE-DECISION":    "allow",
		"X-Govgate-Agreement":   "AGR-2026-0042",
		"X-Govgate-Purpose":     "social-insurance-check",
		"X-Forwarded-For":       "10.9.9.9",
		"X-Forwarded-Proto":     "https",
		"X-Request-Id":          "client-chosen",
	})
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	e := decodeEcho(t, body)
	for h := range e.Headers {
		if strings.HasPrefix(h, "x-govgate-") {
			t.Errorf("client-supplied %s reached the upstream", h)
		}
	}
	if e.Headers["x-forwarded-for"] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the peer address only", e.Headers["x-forwarded-for"])
	}
	if e.Headers["x-forwarded-proto"] != "http" {
		t.Errorf("X-Forwarded-Proto = %q", e.Headers["x-forwarded-proto"])
	}
	if id := e.Headers["x-request-id"]; id == "client-chosen" || id == "" {
		t.Errorf("X-Request-Id = %q, want one of the gateway's", id)
	}
	if decider.agreement != "AGR-2026-0042" || decider.purpose != "social-insurance-check" {
		t.Errorf("declared agreement/purpose not captured: %q %q", decider.agreement, decider.purpose)
	}

	_, hdr, _ := do(t, "GET", gw.base+"/population/v1/forge", "", nil)
	if hdr.Get("X-Govgate-Receipt") != "" {
		t.Errorf("a provider-forged receipt reached the client: %q", hdr.Get("X-Govgate-Receipt"))
	}
}

func TestAmbiguousPathsRefused(t *testing.T) {
	up := startUpstream(t, nil)
	gw := startGateway(t, testConfig(up.addr), Options{})
	c := dialRaw(t, gw.base)
	for _, p := range []string{
		"/population/v1/../../admin",
		"/population/v1/./persons",
		"/population/v1/persons/..",
		"/population/v1/%2e%2e/x",
		"/population/v1/%2E./x",
		"/population/v1%2fpersons",
		"/population/v1%2Fpersons",
		"//population/v1/persons",
		"/population//v1/persons",
		"/population/v1/persons\\..\\x",
		"/population/v1/%5cpersons",
		"/population/v1/%252e%252e/x",
		"/population/v1/persons%00",
		"/population/v1/persons%zz",
		"/population/v1/persons%2",
		"http://gw/population/v1/../x",
	} {
		resp, body := c.roundTrip(t, "GET "+p+" HTTP/1.1\r\nHost: gw\r\n\r\n")
		if resp.StatusCode != 400 || errorCode(t, body) != "ambiguous_path" {
			t.Errorf("%s: status %d %s", p, resp.StatusCode, body)
		}
	}
	if n := up.hits.Load(); n != 0 {
		t.Errorf("%d ambiguous requests reached the upstream", n)
	}
	// The same connection still serves a clean path, including a harmless escape.
	resp, body := c.roundTrip(t, "GET /population/v1/pers%6Fns?id=1 HTTP/1.1\r\nHost: gw\r\n\r\n")
	if resp.StatusCode != 200 || decodeEcho(t, body).URI != "/population/v1/pers%6Fns?id=1" {
		t.Errorf("clean path: status %d %s", resp.StatusCode, body)
	}
}

func TestUpstreamErrors(t *testing.T) {
	slow := startUpstream(t, nil)
	slow.delay.Store(int64(time.Second))
	dead := closedAddr(t)
	cfg := testConfig(dead)
	cfg.Pools = append(cfg.Pools, Pool{ID: "slow", Addresses: []string{slow.addr}})
	cfg.Routes = append(cfg.Routes, Route{ID: "slow", PathPrefix: "/slow", Resource: "r", Mode: ModeQuery, Pool: "slow", TargetZone: ZoneInternal, Timeout: 150 * time.Millisecond})
	cfg.ApplyDefaults()
	cfg.Pools[0].Passive.MaxFails = 1000 // keep the dead member in rotation for this test
	gw := startGateway(t, cfg, Options{})

	cases := []struct {
		path   string
		status int
		code   string
	}{
		{"/population/v1/persons", 502, "upstream_unreachable"},
		{"/slow/x", 504, "upstream_timeout"},
		{"/tax/v1/records", 404, "no_route"},
	}
	for _, c := range cases {
		status, _, body := do(t, "GET", gw.base+c.path, "", nil)
		if status != c.status || errorCode(t, body) != c.code {
			t.Errorf("%s: got %d %s, want %d %s", c.path, status, body, c.status, c.code)
		}
	}
}
