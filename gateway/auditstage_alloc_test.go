package gateway_test

import (
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	. "github.com/govgate/govgate/gateway"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/internal/race"
)

// auditAllocsPerExchange measures the allocations of one allowed exchange through the
// real policy gateway over a real socket, with or without the real audit stage (a log in
// a temporary directory): the difference is what auditing an exchange allocates, its
// writer's share included (AllocsPerRun counts every goroutine).
func auditAllocsPerExchange(t *testing.T, audited bool) float64 {
	t.Helper()
	do := allowedExchange(t, audited)
	return testing.AllocsPerRun(1000, do)
}

// allowedExchange starts the policy gateway, audited or not, and returns one allowed
// exchange through it, warmed.
func allowedExchange(t testing.TB, audited bool) func() {
	t.Helper()
	var l *audit.Log // kept open by withAuditLog until t ends
	setup := func(_ string, s *gatewaySetup) { s.stages = func(st *Stages) { st.Audit = nil } }
	if audited {
		setup = withAuditLog(t, t.TempDir(), &l)
	}
	g := startPolicyGateway(t, 0, taxpayer, setup)
	addr := strings.TrimPrefix(g.base, "http://")
	c := &fasthttp.HostClient{Addr: addr, Dial: func(a string) (net.Conn, error) { return net.Dial("tcp", a) }, MaxConns: 1}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI(g.base + "/tax/v1/x?id=1")
	for k, v := range rensheju {
		req.Header.Set(k, v)
	}
	do := func() {
		if err := c.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != 200 || audited != (len(resp.Header.Peek(HeaderReceipt)) > 0) {
			t.Fatalf("status %d, receipt %q: %s", resp.StatusCode(), resp.Header.Peek(HeaderReceipt), resp.Body())
		}
	}
	for range 200 {
		do()
	}
	return do
}

// BenchmarkAuditedExchange: one allowed exchange through the gateway over a socket, not
// audited and audited (a real log in a temporary directory, one fdatasync per exchange):
// compare allocs/op and B/op of the two rows (ns/op is mostly the disk's).
func BenchmarkAuditedExchange(b *testing.B) {
	for _, audited := range []bool{false, true} {
		name := map[bool]string{false: "unaudited", true: "audited"}[audited]
		b.Run(name, func(b *testing.B) {
			do := allowedExchange(b, audited)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				do()
			}
		})
	}
}

// TestAuditStageAllocationBudget holds the audit stage to its allocation budget per
// exchange: an allowed exchange audited against the same exchange not audited, in the
// same run. Building the record reuses a pooled record and its decision; the receipt is
// written without a leaf of its own; the client's address is formatted into the record's
// room. A change that allocates per exchange again (a fresh record, a receipt leaf, the
// address's String) fails. Counts, unlike times, do not depend on the machine's load.
func TestAuditStageAllocationBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation measurement skipped in -short")
	}
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector (sync.Pool drops items at random)")
	}
	bare := auditAllocsPerExchange(t, false)
	audited := auditAllocsPerExchange(t, true)
	t.Logf("allocations per allowed exchange: not audited %.2f, audited %.2f (+%.2f)", bare, audited, audited-bare)
	// +13 before the receipt, the record's parts, the client's address and the batch's
	// leaf block stopped allocating; +2 left, the writer's: SM3's Sum, a tree node.
	const budget = 2.5
	if audited-bare > budget {
		t.Errorf("the audit stage adds %.2f allocations per exchange; the budget is %.1f", audited-bare, budget)
	}
}
