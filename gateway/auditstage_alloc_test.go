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
func auditAllocsPerExchange(t *testing.T, audited bool) (float64, *audit.Log) {
	t.Helper()
	var l *audit.Log
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
	return testing.AllocsPerRun(1000, do), l
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
	bare, _ := auditAllocsPerExchange(t, false)
	audited, _ := auditAllocsPerExchange(t, true)
	t.Logf("allocations per allowed exchange: not audited %.2f, audited %.2f (+%.2f)", bare, audited, audited-bare)
	const budget = 99
	if audited-bare > budget {
		t.Errorf("the audit stage adds %.2f allocations per exchange; the budget is %d", audited-bare, budget)
	}
}
