package gateway_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/wire"
)

// panickingAuditor panics on an exchange that carries X-Test-Panic-Audit, as an audit
// stage with a defect reached by what a consumer sent would.
type panickingAuditor struct{ Auditor }

func (a panickingAuditor) Audit(ctx *fasthttp.RequestCtx, x *Exchange, receipt []byte) ([]byte, error) {
	if len(ctx.Request.Header.Peek("X-Test-Panic-Audit")) > 0 {
		panic("an audit stage's defect reached by a crafted request")
	}
	return a.Auditor.Audit(ctx, x, receipt)
}

// panickingStreamRelease panics in the release stage's ReleaseStream itself — after the
// provider's head arrived, before the gateway took its body stream in hand.
type panickingStreamRelease struct {
	Releaser
	stream StreamReleaser
}

func (r panickingStreamRelease) ReleaseStream(ctx *fasthttp.RequestCtx, x *Exchange) (RowCutter, error) {
	if len(ctx.Request.Header.Peek("X-Test-Panic-Head")) > 0 {
		panic("a release stage's defect reached by a provider's head")
	}
	c, err := r.stream.ReleaseStream(ctx, x)
	if err == nil && c != nil && len(ctx.Request.Header.Peek("X-Test-Panic-Prime")) > 0 {
		return &panickingCutter{RowCutter: c, calls: 1}, nil // panics on its first window
	}
	if err == nil && c != nil && len(ctx.Request.Header.Peek("X-Test-Panic-Rows")) > 0 {
		return &panickingCutter{RowCutter: c}, nil // panics on its second window, mid-body
	}
	return c, err
}

func panicRows(n int) string {
	var rows strings.Builder
	rows.WriteString("uscc,name,status\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&rows, "9111%014d,企业%d,存续\n", i, i)
	}
	return rows.String()
}

// TestPanicInTheAuditStageFailsClosed: a panic in the audit stage is a record that was not
// made durable: the exchange is refused with 503 audit_unavailable (a streamed transfer is
// cut, no receipt), never answered 200 without its record, and the process goes on. The
// guard covered run and produce but not finish or the stream's record: before the fix the
// first such panic ended the process.
func TestPanicInTheAuditStageFailsClosed(t *testing.T) {
	g := startPolicyGateway(t, 0, csvProvider("text/csv", panicRows(2000), 1000), withStreamRoutes(0), func(_ string, s *gatewaySetup) {
		s.stages = func(st *Stages) { st.Audit = panickingAuditor{st.Audit} }
	})
	crafted := with(exchanger, "X-Test-Panic-Audit", "1")

	status, hdr, body := do(t, "GET", g.base+"/tax/v1/taxpayers/91110108MA01A2B3C4", "", crafted)
	if status != 503 || errorCode(t, body) != "audit_unavailable" {
		t.Fatalf("a panic in the audit stage of a buffered exchange: %d %v %s", status, hdr, body)
	}
	if strings.Contains(string(body), "crafted") || hdr.Get(wire.HeaderReceipt) != "" {
		t.Errorf("the panic reached the consumer, or a receipt went out: %v %s", hdr, body)
	}

	r := getStream(t, g.base+"/ent/changes.csv", crafted)
	if r.err == nil || r.trailer.Get(wire.HeaderReceipt) != "" {
		t.Fatalf("a panic in the audit stage at a transfer's end: %d, err %v, trailers %v", r.status, r.err, r.trailer)
	}
	raw := getRaw(t, g.base, "/ent/changes.csv", crafted)
	if !strings.HasSuffix(raw, "\r\n0\r\n"+wire.HeaderTransferError+": audit_unavailable\r\n") {
		t.Errorf("the wire does not end with the error trailer: %q", raw[max(0, len(raw)-200):])
	}

	// The process, and every other exchange, go on, and are recorded.
	n := g.audit.count()
	if r := getStream(t, g.base+"/ent/changes.csv", exchanger); r.err != nil || r.status != 200 || r.trailer.Get(wire.HeaderReceipt) == "" {
		t.Errorf("a transfer after the panics: %d %v %v", r.status, r.err, r.trailer)
	}
	if c := g.audit.count(); c != n+1 {
		t.Errorf("the transfer after the panics made %d records, want 1", c-n)
	}
}

// TestPanicInReleaseStreamGivesTheProviderConnectionBack: a panic in the release stage
// after the provider's head arrived must not keep the provider's connection: with a pool
// of one connection, every later exchange to that provider waited for one that was never
// given back (before the fix: 502/503 on every exchange after the first panic).
func TestPanicInReleaseStreamGivesTheProviderConnectionBack(t *testing.T) {
	g := startPolicyGateway(t, 0, csvProvider("text/csv", panicRows(20000), 1000), withStreamRoutes(0), func(_ string, s *gatewaySetup) {
		prev := s.config
		s.config = func(cfg *Config) {
			if prev != nil {
				prev(cfg)
			}
			for i := range cfg.Pools {
				cfg.Pools[i].MaxConns = 1
			}
		}
		s.stages = func(st *Stages) {
			st.Release = panickingStreamRelease{Releaser: st.Release, stream: st.Release.(StreamReleaser)}
		}
	})
	// In ReleaseStream before the body is taken; in the first window's cut (prime), before
	// the head leaves: each an ordinary 500, recorded once.
	for _, h := range []string{"X-Test-Panic-Head", "X-Test-Panic-Head", "X-Test-Panic-Prime", "X-Test-Panic-Prime"} {
		n := g.audit.count()
		status, _, body := do(t, "GET", g.base+"/ent/changes.csv", "", with(exchanger, h, "1"))
		if status != 500 || errorCode(t, body) != "internal_error" || strings.Contains(string(body), "defect") {
			t.Fatalf("%s: %d %s", h, status, body)
		}
		if e := g.audit.last(); e.code != "internal_error" || g.audit.count() != n+1 {
			t.Errorf("%s: the failed exchange is recorded as %+v, %d records", h, e, g.audit.count()-n)
		}
	}
	// Mid-body: the transfer is cut, recorded once, and the provider's connection, in the
	// middle of its response, is closed rather than given back to the pool.
	for i := 0; i < 2; i++ {
		n := g.audit.count()
		r := getStream(t, g.base+"/ent/changes.csv", with(exchanger, "X-Test-Panic-Rows", "1"))
		if r.status != 200 || r.err == nil || r.trailer.Get(wire.HeaderReceipt) != "" {
			t.Fatalf("a panic mid-body: %d, err %v, trailers %v", r.status, r.err, r.trailer)
		}
		if e := g.audit.last(); e.code != "internal_error" || g.audit.count() != n+1 {
			t.Errorf("the cut transfer is recorded as %+v, %d records", e, g.audit.count()-n)
		}
	}
	if r := getStream(t, g.base+"/ent/changes.csv", exchanger); r.err != nil || r.status != 200 || r.trailer.Get(wire.HeaderRows) != "20000" {
		t.Errorf("a transfer after the panics, on a pool of one connection: %d %v %v %.200s", r.status, r.err, r.trailer, r.body)
	}
}
