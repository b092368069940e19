package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"

	"github.com/valyala/fasthttp"
)

// testClient bounds every test request, so that a gateway that hangs fails the test
// instead of stalling the suite.
var testClient = &http.Client{Timeout: 10 * time.Second}

// upstream is a real provider on 127.0.0.1 for tests.
type upstream struct {
	addr  string
	hits  atomic.Int64
	srv   *fasthttp.Server
	ln    net.Listener
	delay atomic.Int64 // nanoseconds to stall before answering
	down  atomic.Bool  // health endpoint answers 503
}

// echo is what the echo upstream saw.
type echo struct {
	Method  string            `json:"method"`
	URI     string            `json:"uri"`
	Body    string            `json:"body"`
	Headers map[string]string `json:"headers"`
	Server  string            `json:"server"`
}

func startUpstream(t testing.TB, extra func(ctx *fasthttp.RequestCtx) bool) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{addr: ln.Addr().String(), ln: ln}
	u.srv = &fasthttp.Server{
		DisableHeaderNamesNormalizing: true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Path()) == "/healthz" {
				if u.down.Load() {
					ctx.SetStatusCode(503)
				}
				return
			}
			u.hits.Add(1)
			if d := time.Duration(u.delay.Load()); d > 0 {
				time.Sleep(d)
			}
			if extra != nil && extra(ctx) {
				return
			}
			e := echo{
				Method:  string(ctx.Method()),
				URI:     string(ctx.RequestURI()),
				Body:    string(ctx.PostBody()),
				Headers: map[string]string{},
				Server:  u.addr,
			}
			ctx.Request.Header.VisitAll(func(k, v []byte) {
				e.Headers[strings.ToLower(string(k))] = string(v)
			})
			body, _ := json.Marshal(e)
			ctx.SetContentType("application/json")
			ctx.SetBody(body)
		},
	}
	go u.srv.Serve(ln)
	t.Cleanup(func() { u.srv.Shutdown() })
	return u
}

type testGateway struct {
	*Gateway
	base  string // http://addr of the "ext" listener
	admin string
}

func startGateway(t testing.TB, cfg *Config, opts Options) *testGateway {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	g, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g.Shutdown(ctx)
	})
	return &testGateway{Gateway: g, base: "http://" + g.ListenerAddr("ext").String(), admin: "http://" + g.AdminAddr().String()}
}

// do sends one request with net/http (a client that is not ours) and returns status,
// headers and body.
func do(t *testing.T, method, url string, body string, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, data
}

func decodeEcho(t *testing.T, body []byte) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("upstream echo: %v: %s", err, body)
	}
	return e
}

// errorCode reads the code of a JSON refusal and checks its shape.
func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var b ErrorBody
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("refusal is not JSON: %v: %s", err, body)
	}
	if b.Error.Code == "" || b.Error.Message == "" || b.Error.RequestID == "" {
		t.Fatalf("refusal lacks code, message or request_id: %s", body)
	}
	return b.Error.Code
}

// rawConn is a keep-alive connection that writes requests byte for byte, for what a
// well-behaved client library would refuse to send.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

func (c *rawConn) roundTrip(t *testing.T, raw string) (*http.Response, []byte) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal(err)
	}
	return resp, body
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// closedAddr is an address on 127.0.0.1 where nothing listens: a port bound, then freed.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
