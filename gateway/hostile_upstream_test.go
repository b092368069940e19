package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"

	"github.com/valyala/fasthttp"
)

// The upstream half of the hostile-traffic suite: only failures the provider caused count
// toward ejecting it, a stale keep-alive connection is replaced without a 502, and the
// provider sees every request at most once.

const testDeptHeaders = "X-Test-Dept: 110000-rensheju\r\nX-Test-Signed: 1\r\nX-Govgate-Purpose: social-insurance-check\r\n"

// rawGatewayRequest sends raw over a fresh connection and returns the status.
func rawGatewayRequest(t *testing.T, base, raw string) (int, string) {
	t.Helper()
	c := dialRaw(t, base)
	resp, body := c.roundTrip(t, raw)
	c.Close()
	return resp.StatusCode, string(body)
}

// TestClientFaultDoesNotEjectProvider: requests that cannot be forwarded because of what
// the client sent — HTTP/1.0 without Host, an absolute-form target without a host, a target
// or Host carrying userinfo — are the client's 4xx, however many arrive: the member stays
// in the pool for every other department. What the provider does receive is well-formed:
// one Host, no Authorization made up from userinfo, HTTP/1.1 whatever version the client
// wrote.
func TestClientFaultDoesNotEjectProvider(t *testing.T) {
	g, rp := startHostile(t, nil, func(_ string, s *gatewaySetup) {
		s.config = func(c *Config) { c.Pools[0].Passive = PassiveCheck{MaxFails: 2, EjectDuration: time.Hour} }
	})
	faults := []string{
		"GET /tax/v1/taxpayers?id=1 HTTP/1.0\r\n" + testDeptHeaders + "\r\n",
		"GET http:///tax/v1/taxpayers?id=1 HTTP/1.0\r\n" + testDeptHeaders + "\r\n",
		"GET http:///tax/v1/taxpayers?id=1 HTTP/1.1\r\nHost: tax.example\r\n" + testDeptHeaders + "\r\n",
		"GET http://user:secret@tax.example/tax/v1/taxpayers?id=1 HTTP/1.1\r\nHost: tax.example\r\n" + testDeptHeaders + "\r\n",
		"GET /tax/v1/taxpayers?id=1 HTTP/1.1\r\nHost: user@tax.example\r\n" + testDeptHeaders + "\r\n",
		"GET /tax/v1/taxpayers?id=1 HTTP/2.0\r\nHost: tax.example\r\n" + testDeptHeaders + "\r\n",
		"GET /tax/v1/taxpayers?id=1 HTTP/1.0\r\nHost: tax.example\r\n" + testDeptHeaders + "\r\n",
	}
	for round := 0; round < 3; round++ {
		for _, raw := range faults {
			status, body := rawGatewayRequest(t, g.base, raw)
			if status >= 500 {
				t.Fatalf("%q: %d %s; a client's malformed request is not the provider's failure", strings.SplitN(raw, "\r\n", 2)[0], status, body)
			}
		}
	}
	for _, req := range rp.requests() {
		line, _, _ := rawHead(req)
		if len(rawHeaderValues(req, "Host")) != 1 || len(rawHeaderValues(req, "Authorization")) != 0 || !strings.HasSuffix(line, " HTTP/1.1") {
			t.Errorf("the provider received a malformed request: %q", req)
		}
	}
	status, _, body := do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", rensheju)
	if status != 200 {
		t.Fatalf("after %d client faults a well-formed request gets %d %s: the provider was ejected", 3*len(faults), status, body)
	}
}

// TestProviderFailuresStillEject: a provider that closes mid-response, answers garbage or
// closes before answering fails max_fails exchanges in a row and is ejected: the next
// request gets 503 without reaching it.
func TestProviderFailuresStillEject(t *testing.T) {
	for name, c := range map[string]struct{ answer, code string }{
		"truncated body":  {"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":", "upstream_closed"},
		"garbage":         {"SMTP ready\r\n\r\n", "upstream_bad_response"},
		"bad chunking":    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "upstream_bad_response"},
		"closed silently": {"", "upstream_closed"},
	} {
		answer := c.answer
		t.Run(name, func(t *testing.T) {
			g, rp := startHostile(t, func([]byte) string { return answer }, func(_ string, s *gatewaySetup) {
				s.config = func(c *Config) { c.Pools[0].Passive = PassiveCheck{MaxFails: 3, EjectDuration: time.Hour} }
			})
			rp.mu.Lock()
			rp.closeAfter = true
			rp.mu.Unlock()
			for i := 0; i < 3; i++ {
				if status, _, body := do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", rensheju); status != 502 || errorCode(t, body) != c.code {
					t.Fatalf("failure %d: %d %s, want 502 %s", i+1, status, body, c.code)
				}
			}
			seen := rp.count()
			status, _, body := do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", rensheju)
			if status != 503 || errorCode(t, body) != "no_healthy_upstream" {
				t.Errorf("after 3 provider failures: %d %s, want 503 no_healthy_upstream", status, body)
			}
			if seen != 3 || rp.count() != 3 {
				t.Errorf("the provider saw %d then %d requests; want each failing exchange exactly once and none after ejection", seen, rp.count())
			}
		})
	}
}

// TestUpstreamStaleKeepAliveRetryOnFreshConnection: a provider that closes every keep-alive
// connection after its answer (as one does when it restarts, or whose idle timeout is
// shorter than the gateway's) leaves a closed connection in the pool before each request.
// GETs and POSTs alike succeed — no 502, no ejection — and the provider sees each exactly
// once: the gateway found the connection closed before writing a byte to it.
func TestUpstreamStaleKeepAliveRetryOnFreshConnection(t *testing.T) {
	g, rp := startHostile(t, nil, func(_ string, s *gatewaySetup) {
		s.config = func(c *Config) { c.Pools[0].Passive = PassiveCheck{MaxFails: 1, EjectDuration: time.Hour} }
	})
	rp.mu.Lock()
	rp.closeAfter = true
	rp.mu.Unlock()
	for i := 0; i < 8; i++ {
		method := "GET"
		if i%2 == 1 {
			method = "POST"
		}
		// Let the provider's FIN arrive, as it has when the next request comes seconds later.
		time.Sleep(20 * time.Millisecond)
		status, _, body := do(t, method, g.base+fmt.Sprintf("/tax/v1/taxpayers?id=%d", i), `{"q":1}`, rensheju)
		if status != 200 {
			t.Fatalf("request %d (%s) over a connection the provider had closed: %d %s", i, method, status, body)
		}
	}
	reqs := rp.requests()
	if len(reqs) != 8 {
		t.Fatalf("the provider saw %d requests for 8 exchanges", len(reqs))
	}
	for i, req := range reqs {
		if line, _, _ := rawHead(req); !strings.Contains(line, fmt.Sprintf("id=%d ", i)) {
			t.Errorf("request %d reached the provider as %q", i, line)
		}
	}
}

// TestUpstreamNoRetryOnceRequestWritten: a provider that reads a request and closes the
// connection without answering may have acted on it, so the gateway answers 502 rather than
// send the request again, for a GET as for a POST: the provider sees it once.
func TestUpstreamNoRetryOnceRequestWritten(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			g, rp := startHostile(t, func([]byte) string { return "" })
			rp.mu.Lock()
			rp.closeAfter = true
			rp.mu.Unlock()
			status, _, body := do(t, method, g.base+"/tax/v1/taxpayers?id=1", `{"q":1}`, rensheju)
			if status != 502 {
				t.Errorf("%d %s, want 502", status, body)
			}
			if n := rp.count(); n != 1 {
				t.Errorf("the provider saw the %s %d times; it must never see it twice", method, n)
			}
		})
	}
}

// TestUpstreamRestartLeavesNoStalePool: the gateway holds several idle keep-alive
// connections to a provider that then restarts (every connection closed, a new process on
// the same address). Requests after the restart, one at a time and then at once, all
// succeed without an ejection, and the provider counts exactly one hit per request.
func TestUpstreamRestartLeavesNoStalePool(t *testing.T) {
	up := startUpstream(t, nil)
	up.delay.Store(int64(30 * time.Millisecond))
	cfg := testConfig(up.addr)
	cfg.Pools[0].Passive = PassiveCheck{MaxFails: 1, EjectDuration: time.Hour}
	gw := startGateway(t, cfg, Options{})
	parallel := func(n int) {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if status, _, body := do(t, "GET", gw.base+"/population/v1/persons", "", nil); status != 200 {
					t.Errorf("status %d: %s", status, body)
				}
			}()
		}
		wg.Wait()
	}
	parallel(6) // six connections now idle in the pool
	up.delay.Store(0)

	// The provider restarts: its connections close, a new server takes the address.
	handler := up.srv.Handler
	up.srv.Shutdown()
	ln, err := net.Listen("tcp", up.addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: handler, DisableHeaderNamesNormalizing: true}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	time.Sleep(50 * time.Millisecond)

	for i := 0; i < 3; i++ {
		if status, _, body := do(t, "GET", gw.base+"/population/v1/persons", "", nil); status != 200 {
			t.Fatalf("request %d after the restart: %d %s", i, status, body)
		}
	}
	parallel(6)
	if n := up.hits.Load(); n != 6+3+6 {
		t.Errorf("the provider counted %d requests for 15 exchanges", n)
	}
}

// TestUpstreamUnsolicitedBytesNotServedToNextRequest: a provider that writes a second,
// unrequested response on a keep-alive connection after its answer must not have it read
// as the answer to the next request — which may be another department's. The gateway
// finds the bytes waiting before it writes the next request, drops that connection and
// sends the request on a fresh one.
func TestUpstreamUnsolicitedBytesNotServedToNextRequest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	seen := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for first := true; ; first = false {
					if _, err := readRawRequest(r); err != nil {
						return
					}
					mu.Lock()
					seen++
					mu.Unlock()
					io.WriteString(c, rawResponse(200, []string{"Content-Type: application/json"}, `{"tax_status":"answered"}`))
					if first {
						time.Sleep(20 * time.Millisecond)
						io.WriteString(c, rawResponse(200, []string{"Content-Type: application/json"}, `{"tax_status":"leaked to whoever asks next"}`))
					}
				}
			}()
		}
	}()
	g := startPolicyGateway(t, 0, nil, func(_ string, s *gatewaySetup) { s.provider = ln.Addr().String() })
	for i := 0; i < 2; i++ {
		status, _, body := do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", rensheju)
		if status != 200 || !strings.Contains(string(body), "answered") {
			t.Fatalf("request %d: %d %s", i, status, body)
		}
		time.Sleep(60 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen != 2 {
		t.Errorf("the provider saw %d requests for 2 exchanges", seen)
	}
}
