package loadtest

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// server is a real fasthttp server on 127.0.0.1 that counts requests and may stall.
func server(t *testing.T, delay time.Duration, status int) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		hits.Add(1)
		time.Sleep(delay)
		ctx.SetStatusCode(status)
		ctx.SetBodyString("ok")
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String() + "/x", &hits
}

func target(t *testing.T, url string, conns int) Target {
	t.Helper()
	tg, err := NewHTTPTarget(Request{URL: url}, nil, conns, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestClosedLoopCounts(t *testing.T) {
	url, hits := server(t, 0, 200)
	r, err := Run(context.Background(), target(t, url, 8), Options{Conns: 8, Requests: 2000, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 2000 || r.OK != 2000 || hits.Load() != 2000 || len(r.Errors) != 0 {
		t.Fatalf("requests %d ok %d server saw %d errors %v", r.Requests, r.OK, hits.Load(), r.Errors)
	}
	if r.Latency.P50 <= 0 || r.Latency.Max < r.Latency.P99 || r.Throughput <= 0 {
		t.Errorf("latency %+v throughput %.0f", r.Latency, r.Throughput)
	}
}

func TestOpenLoopHoldsTheRate(t *testing.T) {
	url, hits := server(t, 0, 200)
	r, err := Run(context.Background(), target(t, url, 4), Options{Conns: 4, Rate: 400, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// 400 requests fall due in one second; allow for the first and the last.
	if r.Requests < 380 || r.Requests > 402 || hits.Load() != r.Requests {
		t.Fatalf("sent %d at 400/s for 1 s (server saw %d)", r.Requests, hits.Load())
	}
	if r.Mode != "open" || r.Rate != 400 {
		t.Errorf("result %+v", r)
	}
}

// TestOpenLoopShowsAStall: a server that takes 200 ms per request, offered more than its
// connections can carry, is reported with latencies of at least 200 ms — and more, since
// requests wait for a connection from the moment they were due.
func TestOpenLoopShowsAStall(t *testing.T) {
	url, _ := server(t, 200*time.Millisecond, 200)
	r, err := Run(context.Background(), target(t, url, 2), Options{Conns: 2, Rate: 20, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Latency.P50 < 200_000 || r.Latency.Max < 400_000 {
		t.Fatalf("a 200 ms server reported p50 %d µs, max %d µs", r.Latency.P50, r.Latency.Max)
	}
}

func TestErrorsByKind(t *testing.T) {
	url, _ := server(t, 0, 503)
	r, err := Run(context.Background(), target(t, url, 2), Options{Conns: 2, Requests: 50, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 0 || r.Errors["status 503"] != 50 {
		t.Errorf("errors %v ok %d", r.Errors, r.OK)
	}
	if k := errorKind(0, errors.New("dial tcp: connection refused")); k != "connection" {
		t.Errorf("kind %q", k)
	}
	if k := errorKind(0, fasthttp.ErrTimeout); k != "timeout" {
		t.Errorf("kind %q", k)
	}
}

func TestHistogramPercentiles(t *testing.T) {
	w := &worker{hist: newHist(), errors: map[string]int64{}}
	for i := int64(1); i <= 1000; i++ {
		w.hist.RecordValue(i * 1000) // 1 ms … 1 s
	}
	r := summarise(Options{Conns: 1}, []*worker{w}, time.Second)
	within := func(got, want int64) bool { return got >= want*99/100 && got <= want*101/100 }
	if !within(r.Latency.P50, 500_000) || !within(r.Latency.P99, 990_000) || !within(r.Latency.Max, 1_000_000) || r.Requests != 1000 {
		t.Errorf("percentiles %+v", r.Latency)
	}
}

// TestEndOfRunIsNotAnError: requests in flight when the duration ends finish and count;
// none is reported as a timeout.
func TestEndOfRunIsNotAnError(t *testing.T) {
	url, hits := server(t, 50*time.Millisecond, 200)
	r, err := Run(context.Background(), target(t, url, 8), Options{Conns: 8, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Errors) != 0 || r.OK != r.Requests || r.Requests != hits.Load() || r.Requests == 0 {
		t.Fatalf("requests %d ok %d server %d errors %v", r.Requests, r.OK, hits.Load(), r.Errors)
	}
}

// In open loop every connection carries requests, not the few a pool would keep reusing:
// --conns N measures N connections in use. (The bench's 2,000-connection rows rely on it;
// a pool that hands out the most recently used connection fails it.)
func TestOpenLoopUsesEveryConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	peers := map[string]int{}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		mu.Lock()
		peers[ctx.RemoteAddr().String()]++
		mu.Unlock()
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	const conns = 16
	tg := target(t, "http://"+ln.Addr().String()+"/x", conns)
	// Closed loop opens the connections...
	if _, err := Run(context.Background(), tg, Options{Conns: conns, Requests: 2000, Duration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	opened := len(peers)
	clear(peers)
	mu.Unlock()
	// ...then a slow open loop, one request in flight at a time, must still use them all.
	if _, err := Run(context.Background(), tg, Options{Conns: conns, Rate: 200, Requests: 160, Duration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if opened != conns || len(peers) != conns {
		t.Errorf("closed loop opened %d connections, open loop used %d; want %d each", opened, len(peers), conns)
	}
}
