package record

import (
	"bytes"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/internal/race"
	"github.com/govgate/govgate/policy"
)

// recordExchange is one exchange as the audit stage sees it: the request and response
// and the pipeline's account of it.
type recordExchange struct {
	ctx *fasthttp.RequestCtx
	x   *gateway.Exchange
}

// variedExchanges are exchanges that each set parts of a record the others do not: a
// signed one with a decision and reasons, a streamed transfer, a refusal with an error,
// an upload, an IPv6 client, a bare catalog read.
func variedExchanges() []recordExchange {
	route := &gateway.Route{ID: "tax-query", Pool: "tax", Resource: "tax.registration", Mode: gateway.ModeQuery}
	mk := func(uri, client string, status int, body string, x *gateway.Exchange) recordExchange {
		var req fasthttp.Request
		req.SetRequestURI(uri)
		req.Header.Set("Content-Digest", "sm3=:abc:")
		ctx := new(fasthttp.RequestCtx)
		ctx.Init(&req, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(client)), nil)
		ctx.Response.SetStatusCode(status)
		ctx.Response.SetBodyString(body)
		x.Start = time.Date(2026, 12, 2, 22, 0, 0, 0, time.UTC)
		return recordExchange{ctx, x}
	}
	deny := &policy.Decision{Allow: false, Reasons: []policy.Reason{{Code: "PURPOSE_NOT_COVERED"}, {Code: "NO_AGREEMENT"}}, Revision: "rev-1", Agreement: "AGR-9"}
	return []recordExchange{
		mk("/tax/v1/x?id=1", "10.0.0.7:40001", 403, `{"error":"denied"}`, &gateway.Exchange{
			ID: []byte("req-signed"), Route: route, Agreement: []byte("AGR-1"), Purpose: []byte("p"),
			Identity:  gateway.Identity{Dept: "110000-rensheju", System: "sys", CertSerial: "01", Signed: true},
			Signature: gateway.SignatureEvidence{Input: "sig1=()", Signature: "c2ln", Base: "base", PublicKey: "04ab"},
			Decision:  gateway.Decision{Evaluated: true, Detail: deny},
			Err:       &gateway.Error{Code: "denied"},
		}),
		mk("/tax/v1/stream", "[2001:db8::1]:443", 200, "", &gateway.Exchange{
			ID: []byte("req-stream"), Route: route, Upstream: "10.1.1.1:8443",
			Decision: gateway.Decision{Evaluated: true, Allow: true, Detail: &policy.Decision{Allow: true, Revision: "rev-2", Fields: []string{"name"}}},
			Transfer: &gateway.Transfer{Outcome: "completed", Sent: 10, Received: 12, Rows: 1, SentDigest: "aa", ReceivedDigest: "bb", RequestDigest: "cc", WholeDigest: "dd", PrefixRead: 3},
		}),
		mk("/nowhere", "192.0.2.1:1", 404, `{"error":"no_route"}`, &gateway.Exchange{
			ID: []byte("req-refused"), Err: &gateway.Error{Code: "no_route"},
			Decision: gateway.Decision{Evaluated: true},
		}),
		mk("/catalog", "127.0.0.1:2", 200, `[]`, &gateway.Exchange{ID: []byte("req-catalog")}),
	}
}

// TestPooledRecordLeaksNothing: records built one after another in one reused pending
// record, in every order, encode byte for byte as records built each in a fresh one. A
// reset that forgot a part — the signature, the transfer, the decision's reasons, the
// client's address — carries one exchange's member into the next one's record.
func TestPooledRecordLeaksNothing(t *testing.T) {
	a := &AuditStage{GatewayID: "gw-test"}
	xs := variedExchanges()
	want := make([][]byte, len(xs))
	for i, e := range xs {
		want[i] = encodeTimeless(a.record(e.ctx, e.x, new(pendingRecord)))
	}
	p := new(pendingRecord)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		i := rng.IntN(len(xs))
		got := encodeTimeless(a.record(xs[i].ctx, xs[i].x, p))
		if !bytes.Equal(got, want[i]) {
			t.Fatalf("round %d, exchange %d: the reused record encodes\n%s\nnot\n%s", round, i, got, want[i])
		}
		p.reset()
	}
	// The reset itself keeps nothing the next exchange could show.
	a.record(xs[0].ctx, xs[0].x, p)
	p.reset()
	if p.rec.Signature != nil || p.rec.Decision != nil || p.rec.Client != "" || p.signature.Base != "" || p.decision.Revision != "" ||
		p.transfer.Outcome != "" || len(p.client) != 0 || len(p.reasons) != 0 || p.reasons[:cap(p.reasons)][0] != "" {
		t.Fatalf("reset kept %+v", p)
	}
}

// encodeTimeless is r's encoding without its latency, which the clock sets.
func encodeTimeless(r *audit.Record) []byte {
	c := *r
	c.LatencyMicros = 0
	return c.Encode()
}

// TestAuditRecordBuildingAllocates bounds what building one record allocates once its
// pending record is warm: nothing, for a signed refusal with reasons and for a streamed
// transfer. A decision, signature, transfer or reason list allocated per exchange, or the
// client's address formatted by String, fails.
func TestAuditRecordBuildingAllocates(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	a := &AuditStage{GatewayID: "gw-test"}
	p := new(pendingRecord)
	for i, e := range variedExchanges() {
		build := func() {
			a.record(e.ctx, e.x, p)
			p.reset()
		}
		build()
		if n := testing.AllocsPerRun(100, build); n != 0 {
			t.Errorf("exchange %d: building its record allocates %.1f times; want 0", i, n)
		}
	}
}
