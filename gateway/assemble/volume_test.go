package assemble

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/internal/redistest"
)

// csvRegistry is the enterprise registry answering every request with the same CSV of
// rows, streamed in 4 KiB chunks. Before its body it waits at gate (when set) until
// together transfers have arrived, so that they run at once; after its first pauseAfter
// bytes it waits for resume (when set).
type csvRegistry struct {
	body       string
	together   int
	arrived    atomic.Int64
	gate       chan struct{}
	pauseAfter int
	resume     chan struct{}
}

func startCSVRegistry(t *testing.T, rows, together int) (*csvRegistry, string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("uscc,name,status\n")
	for i := range rows {
		fmt.Fprintf(&b, "9111%014d,企业第%d号,存续\n", i, i)
	}
	r := &csvRegistry{body: b.String(), together: together}
	if together > 1 {
		r.gate = make(chan struct{})
	}
	srv := &fasthttp.Server{Handler: r.serve}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return r, ln.Addr().String()
}

func (r *csvRegistry) serve(ctx *fasthttp.RequestCtx) {
	if r.gate != nil && r.arrived.Add(1) == int64(r.together) {
		close(r.gate)
	}
	ctx.SetContentType("text/csv; charset=utf-8")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		if r.gate != nil {
			select {
			case <-r.gate:
			case <-time.After(10 * time.Second):
			}
		}
		for i := 0; i < len(r.body); i += 4096 {
			if r.resume != nil && i == r.pauseAfter {
				<-r.resume
			}
			w.WriteString(r.body[i:min(len(r.body), i+4096)])
			if w.Flush() != nil {
				return
			}
		}
	})
}

// withExchangeRoute adds a route exchanging enterprise registrations (streamed, row by
// row) under AGR-2025-0219, which allows the exchange mode.
func withExchangeRoute(next func(*gateway.Config)) func(*gateway.Config) {
	return func(c *gateway.Config) {
		c.Routes = append(c.Routes, gateway.Route{ID: "enterprise-exchange", PathPrefix: "/bulk/enterprise", Resource: "enterprise.registration",
			Mode: gateway.ModeExchange, Pool: "enterprise-registry", TargetZone: gateway.ZoneInternal, Timeout: 5 * time.Second, TransferTimeout: time.Minute})
		if next != nil {
			next(c)
		}
	}
}

// received is what a consumer got of one transfer.
type received struct {
	status      int
	body        string
	rows, bytes int64
	err         error
}

// countingSink counts the bytes and rows of a streamed CSV body, and says when the first
// bytes arrived.
type countingSink struct {
	n, lines int64
	first    chan struct{}
	once     sync.Once
}

func (s *countingSink) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	s.lines += int64(bytes.Count(p, []byte{'\n'}))
	if s.first != nil {
		s.once.Do(func() { close(s.first) })
	}
	return len(p), nil
}

// auditDirs records the audit directory of each gateway of a fleet as it is built.
type auditDirs struct{ dirs []string }

func (a *auditDirs) tune(c *gateway.Config) { a.dirs = append(a.dirs, c.Audit.Dir) }

// transfers are the records of the exchange route's transfers in gateway i's audit log
// once there are want of them.
func (a *auditDirs) transfers(t *testing.T, i, want int) []*audit.Record {
	t.Helper()
	var recs []*audit.Record
	waitFor(t, "the transfers' records", func() bool {
		recs = nil
		err := audit.Scan(a.dirs[i], func(_ uint64, b []byte) error {
			r, err := audit.ParseRecord(b)
			if err != nil {
				return err
			}
			if r.Route == "enterprise-exchange" {
				recs = append(recs, r)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return len(recs) >= want
	})
	return recs
}

// transfer streams the exchange route's CSV from gateway i, signed by the department.
func (f *fleet) transfer(i int, first chan struct{}) received {
	f.t.Helper()
	c := f.client()
	p, err := c.Prepare(client.Request{Method: "GET", URL: "https://" + f.gws[i].listen + "/bulk/enterprise/changes.csv",
		Agreement: "AGR-2025-0219", Purpose: "tax-registration"})
	if err != nil {
		f.t.Fatal(err)
	}
	defer p.Release()
	sink := &countingSink{first: first}
	var buf bytes.Buffer
	resp, err := c.SendTo(context.Background(), p, func(r *client.Response) (io.Writer, error) {
		if r.Status != 200 {
			return &buf, nil
		}
		return sink, nil
	})
	if resp == nil {
		f.t.Fatalf("transfer at gateway %d: %v", i, err)
	}
	r := received{status: resp.Status, body: buf.String(), err: err}
	if resp.Status == 200 {
		r.bytes, r.rows = sink.n, max(0, sink.lines-1) // the header row is not a data row
	}
	return r
}

// maxWindowRows is the most data rows one window of the gateway can carry of the
// registry's body: the granularity at which a transfer is cut.
func (r *csvRegistry) maxWindowRows() int64 {
	shortest := len(r.body)
	for _, line := range strings.SplitAfter(r.body, "\n")[1:] {
		if line != "" {
			shortest = min(shortest, len(line))
		}
	}
	return int64(gateway.StreamWindow/shortest + 1)
}

// Two streamed transfers of one department run at once through the two gateways of a
// fleet, each asking for 40,000 rows against a day's volume of 50,000 rows (or of bytes):
// in all they release no more than the day's volume — counted per gateway, they would
// release 80,000 — and stop within one window per transfer of it. The transfer that
// crosses is cut with quota_exceeded, and once the day is used up a new transfer at either
// gateway is refused before its head (429 VOLUME_EXCEEDED).
func TestFleetVolumeIsOneForTheFleet(t *testing.T) {
	if h := time.Now().UTC(); h.Hour() == 15 && h.Minute() == 59 {
		t.Skip("the Beijing day turns over during this test")
	}
	for _, tc := range []struct {
		name  string
		quota func(body int) (string, int64, bool) // the quota, its bound, whether it bounds rows
	}{
		{"rows", func(int) (string, int64, bool) { return "{rows_per_day: 50000}", 50000, true }},
		{"bytes", func(body int) (string, int64, bool) {
			b := body * 5 / 4
			return fmt.Sprintf("{bytes_per_day: %d}", b), int64(b), false
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			reg, addr := startCSVRegistry(t, 40000, 2)
			quota, bound, rows := tc.quota(len(reg.body))
			dirs := &auditDirs{}
			f := startFleetOn(t, srv, policyWithQuota(t, quota), addr, withExchangeRoute(dirs.tune), nil)
			var got [2]received
			var wg sync.WaitGroup
			for i := range got {
				wg.Add(1)
				go func() { defer wg.Done(); got[i] = f.transfer(i, nil) }()
			}
			wg.Wait()
			var totalRows, totalBytes int64
			cut := 0
			for i, r := range got {
				if r.status != 200 {
					t.Fatalf("transfer at gateway %d: %d %s %v", i, r.status, r.body, r.err)
				}
				rec := dirs.transfers(t, i, 1)[0]
				switch {
				case r.err == nil && rec.Transfer.Outcome == gateway.TransferCompleted:
				case errors.Is(r.err, client.ErrTransferIncomplete) && rec.Transfer.Outcome == gateway.TransferCut && rec.Error == "quota_exceeded":
					cut++
				default:
					t.Fatalf("transfer at gateway %d: %v; recorded %s %q", i, r.err, rec.Transfer.Outcome, rec.Error)
				}
				if rec.Transfer.Rows != r.rows || rec.Bytes.Response != r.bytes {
					t.Errorf("gateway %d recorded %d rows, %d bytes; the consumer got %d, %d", i, rec.Transfer.Rows, rec.Bytes.Response, r.rows, r.bytes)
				}
				totalRows += r.rows
				totalBytes += r.bytes
			}
			// A window releases at most the StreamWindow bytes it was cut from (every column
			// of this CSV is released), and at most maxWindowRows rows.
			used, window := totalBytes, int64(gateway.StreamWindow)
			if rows {
				used, window = totalRows, reg.maxWindowRows()
			}
			t.Logf("released %d rows, %d bytes through two gateways (%d cut) against %d %s", totalRows, totalBytes, cut, bound, tc.name)
			if used > bound || used <= bound-2*window || cut == 0 {
				t.Fatalf("two gateways released %d rows, %d bytes (%d cut) against a day's volume of %d %s; want at most the volume and within one window (%d) per transfer of it, one transfer cut",
					totalRows, totalBytes, cut, bound, tc.name, window)
			}
			for i := range f.gws {
				r := f.transfer(i, nil)
				if r.status == 200 {
					totalRows, totalBytes = totalRows+r.rows, totalBytes+r.bytes
					used = map[bool]int64{true: totalRows, false: totalBytes}[rows]
					if used > bound || r.err == nil {
						t.Fatalf("a transfer after the day's volume at gateway %d released %d rows (in all %d of %d)", i, r.rows, used, bound)
					}
					r = f.transfer(i, nil)
				}
				if r.status != 429 || !strings.Contains(r.body, "VOLUME_EXCEEDED") {
					t.Fatalf("a new transfer at gateway %d once the day is used up: %d %s %v", i, r.status, r.body, r.err)
				}
			}
		})
	}
}

// Redis stopped with on_failure.quota refuse: a transfer running is cut at its next window
// (quota_store_unavailable, recorded), a new one is refused before its head (503
// quota_store_unavailable, recorded), /readyz is not ready and says that transfers under a
// daily volume are refused, the metric counts the volume errors; Redis back, transfers
// are served again. Replay is on local here, so that the volume's behaviour is what shows.
func TestFleetVolumeRedisDownRefuses(t *testing.T) {
	srv := redistest.Start(t)
	reg, addr := startCSVRegistry(t, 40000, 1)
	reg.pauseAfter, reg.resume = 64*4096, make(chan struct{})
	dirs := &auditDirs{}
	f := startFleetOn(t, srv, policyWithQuota(t, "{rows_per_day: 1000000}"), addr, withExchangeRoute(func(c *gateway.Config) {
		dirs.tune(c)
		c.Shared.OnFailure = gateway.SharedOnFailure{Replay: gateway.OnFailureLocal, Quota: gateway.OnFailureRefuse}
	}), nil)
	first := make(chan struct{})
	done := make(chan received, 1)
	go func() { done <- f.transfer(0, first) }()
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("the transfer sent nothing")
	}
	srv.Stop()
	close(reg.resume)
	r := <-done
	rec := dirs.transfers(t, 0, 1)[0]
	if r.status != 200 || !errors.Is(r.err, client.ErrTransferIncomplete) || rec.Transfer.Outcome != gateway.TransferCut || rec.Error != "quota_store_unavailable" {
		t.Fatalf("a transfer running when redis stopped: %d %v (%d rows, %d bytes); recorded %+v %q", r.status, r.err, r.rows, r.bytes, rec.Transfer, rec.Error)
	}
	if r.rows == 0 || r.rows >= 40000 || rec.Transfer.Rows != r.rows {
		t.Fatalf("the cut transfer released %d rows (recorded %d)", r.rows, rec.Transfer.Rows)
	}
	r = f.transfer(1, nil)
	if r.status != 503 || !strings.Contains(r.body, "quota_store_unavailable") {
		t.Fatalf("a new transfer with redis down: %d %s %v", r.status, r.body, r.err)
	}
	if rec := dirs.transfers(t, 1, 1)[0]; rec.Error != "quota_store_unavailable" || rec.Status != 503 {
		t.Fatalf("the refused transfer was recorded as %d %q", rec.Status, rec.Error)
	}
	for i := range f.gws {
		waitFor(t, "/readyz to say redis is down", func() bool { s, _ := f.readyz(i); return s == 503 })
		if _, body := f.readyz(i); !strings.Contains(body, "streamed transfers under a daily volume are refused or cut") {
			t.Fatalf("gateway %d /readyz: %s", i, body)
		}
		if m := f.metrics(i); !strings.Contains(m, `govgate_shared_state_degraded{feature="volume"} 0`) {
			t.Fatalf("gateway %d: the volume is refused, not degraded", i)
		}
	}
	if m := f.metrics(1); strings.Contains(m, `govgate_shared_state_errors_total{op="volume"} 0`) {
		t.Fatal("no volume error counted")
	}
	srv.Restart()
	for i := range f.gws {
		waitFor(t, "/readyz to recover", func() bool { s, _ := f.readyz(i); return s == 200 })
		if r := f.transfer(i, nil); r.status != 200 || r.err != nil || r.rows != 40000 {
			t.Fatalf("gateway %d after recovery: %d %d rows %v", i, r.status, r.rows, r.err)
		}
	}
}

// Redis stopped with on_failure.quota local: each gateway counts the day's volume in its
// own memory — a gateway still cuts what passes its own count, but the fleet may release
// up to N × the volume meanwhile — and says so: /readyz ready with a DEGRADED warning
// naming daily volumes, govgate_shared_state_degraded{feature="volume"} 1 and the
// transfers counted as fallbacks.
func TestFleetVolumeLocalFallbackSaysDegraded(t *testing.T) {
	srv := redistest.Start(t)
	_, addr := startCSVRegistry(t, 40000, 1)
	dirs := &auditDirs{}
	f := startFleetOn(t, srv, policyWithQuota(t, "{rows_per_day: 60000}"), addr, withExchangeRoute(func(c *gateway.Config) {
		dirs.tune(c)
		c.Shared.OnFailure = gateway.SharedOnFailure{Replay: gateway.OnFailureLocal, Quota: gateway.OnFailureLocal}
	}), nil)
	srv.Stop()
	for i := range f.gws {
		if r := f.transfer(i, nil); r.status != 200 || r.err != nil || r.rows != 40000 {
			t.Fatalf("gateway %d on its local count: %d %d rows %v", i, r.status, r.rows, r.err)
		}
	}
	r := f.transfer(0, nil)
	if r.status != 200 || !errors.Is(r.err, client.ErrTransferIncomplete) || r.rows > 20000 {
		t.Fatalf("past gateway 0's own count: %d %d rows %v", r.status, r.rows, r.err)
	}
	if rec := dirs.transfers(t, 0, 2)[1]; rec.Error != "quota_exceeded" {
		t.Fatalf("recorded as %q", rec.Error)
	}
	status, body := f.readyz(0)
	if status != 200 || !strings.Contains(body, "DEGRADED") || !strings.Contains(body, "daily volumes are counted in this gateway only") {
		t.Fatalf("/readyz on the local fallback: %d %s", status, body)
	}
	m := f.metrics(0)
	for _, want := range []string{`govgate_shared_state_degraded{feature="volume"} 1`, "govgate_shared_state_up 0"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(m, `govgate_shared_state_fallbacks_total{feature="volume"} 0`) || !strings.Contains(m, `govgate_shared_state_fallbacks_total{feature="volume"}`) {
		t.Error("no volume fallback counted")
	}
}
