package gateway_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/wire"
)

// panickingDecider panics on an exchange that carries X-Test-Panic, as a stage with a
// defect reached by what a consumer sent would.
type panickingDecider struct{ Decider }

func (d panickingDecider) Decide(ctx *fasthttp.RequestCtx, x *Exchange) error {
	if len(ctx.Request.Header.Peek("X-Test-Panic")) > 0 {
		panic("a stage's defect reached by a crafted request")
	}
	return d.Decider.Decide(ctx, x)
}

// panickingRelease passes the real stage's cutter on, on an exchange that carries
// X-Test-Panic-Rows wrapped in one that panics after its first window, as a defect
// reached by a provider's bytes would.
type panickingRelease struct {
	Releaser
	stream StreamReleaser
}

func (r panickingRelease) ReleaseStream(ctx *fasthttp.RequestCtx, x *Exchange) (RowCutter, error) {
	c, err := r.stream.ReleaseStream(ctx, x)
	if err != nil || c == nil || len(ctx.Request.Header.Peek("X-Test-Panic-Rows")) == 0 {
		return c, err
	}
	return &panickingCutter{RowCutter: c}, nil
}

type panickingCutter struct {
	RowCutter
	calls int
}

func (c *panickingCutter) Cut(dst, src []byte, final bool) ([]byte, int, int, error) {
	if c.calls++; c.calls > 1 {
		panic("a cutter's defect reached by a provider's row")
	}
	return c.RowCutter.Cut(dst, src, final)
}

// TestPanicInAStageRefusesOneExchange: a panic in a stage — a defect a consumer's request
// or a provider's body reaches — fails that exchange alone: a 500 internal_error (or, in
// the middle of a transfer, the transfer cut visibly incomplete with no receipt), recorded,
// the connection closed, and the gateway goes on serving. fasthttp recovers nothing: before
// this guard the first panic ended the process.
func TestPanicInAStageRefusesOneExchange(t *testing.T) {
	var rows strings.Builder
	rows.WriteString("uscc,name,status\n")
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&rows, "9111%014d,企业%d,存续\n", i, i)
	}
	g := startPolicyGateway(t, 0, csvProvider("text/csv", rows.String(), 1000), withStreamRoutes(0), func(_ string, s *gatewaySetup) {
		s.stages = func(st *Stages) {
			st.Decide = panickingDecider{st.Decide}
			st.Release = panickingRelease{Releaser: st.Release, stream: st.Release.(StreamReleaser)}
		}
	})

	status, hdr, body := do(t, "GET", g.base+"/ent/changes.csv", "", with(exchanger, "X-Test-Panic", "1"))
	if status != 500 || errorCode(t, body) != "internal_error" {
		t.Fatalf("a panic in the decide stage: %d %v %s", status, hdr, body)
	}
	if raw := getRaw(t, g.base, "/ent/changes.csv", with(exchanger, "X-Test-Panic", "1")); !strings.Contains(raw, "\r\nConnection: close\r\n") {
		t.Errorf("the connection of a failed exchange is kept: %q", raw)
	}
	if strings.Contains(string(body), "crafted") {
		t.Errorf("the panic's value reached the consumer: %s", body)
	}
	if e := g.audit.last(); e.code != "internal_error" || e.status != 500 {
		t.Errorf("the failed exchange is recorded as %+v", e)
	}

	panicRows := with(exchanger, "X-Test-Panic-Rows", "1")
	r := getStream(t, g.base+"/ent/changes.csv", panicRows)
	if r.status != 200 || r.err == nil || r.trailer.Get(wire.HeaderReceipt) != "" {
		t.Fatalf("a panic in the middle of a transfer: %d, err %v, trailers %v", r.status, r.err, r.trailer)
	}
	if e := g.audit.last(); e.code != "internal_error" {
		t.Errorf("the cut transfer is recorded as %+v", e)
	}
	raw := getRaw(t, g.base, "/ent/changes.csv", panicRows)
	if !strings.HasSuffix(raw, "\r\n0\r\n"+wire.HeaderTransferError+": "+"internal_error"+"\r\n") {
		t.Errorf("the wire does not end with the error trailer: %q", raw[max(0, len(raw)-200):])
	}

	// The process, and every other exchange, go on.
	if r := getStream(t, g.base+"/ent/changes.csv", exchanger); r.err != nil || r.status != 200 || r.trailer.Get(wire.HeaderReceipt) == "" || r.trailer.Get(wire.HeaderRows) != "20000" {
		t.Errorf("a transfer after the panics: %d %v %v", r.status, r.err, r.trailer)
	}
}
