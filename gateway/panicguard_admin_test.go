package gateway_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/audit"
	. "github.com/govgate/govgate/gateway"
)

// panickingAdmin is a read and a state change whose handlers panic, as a contributed
// endpoint (a proof, a policy evaluation) with a defect an operator's or an auditor's
// request reaches would.
func panickingAdmin() []AdminHandler {
	boom := func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString("half an answer")
		panic("an admin endpoint's defect reached by an administrator's request")
	}
	return []AdminHandler{
		{Method: fasthttp.MethodGet, Path: "/test/panic-read", Role: RoleAuditor, Handler: boom},
		{Method: fasthttp.MethodPost, Path: "/test/panic-change", Handler: boom},
	}
}

// TestPanicInAnAdminHandlerFailsThatRequestAlone: an administrator whose request reaches a
// defect in an admin endpoint gets 500 internal_error, on the record (a state change: its
// attempt, then its outcome), its connection closed — and the gateway goes on serving
// every department. Before the guard the panic ended the process: an auditor's role could
// stop the data plane.
func TestPanicInAnAdminHandlerFailsThatRequestAlone(t *testing.T) {
	var l *audit.Log
	g := startPolicyGateway(t, 0, taxpayer, withAuditLog(t, t.TempDir(), &l), func(_ string, s *gatewaySetup) {
		s.admin = append(s.admin, panickingAdmin()...)
	})
	a := &adminTarget{g: g, addr: g.AdminAddr().String()}
	host := "Host: " + a.addr

	for _, c := range []struct {
		head    string
		records []string // status and error of the records it leaves, in order
	}{
		{"GET /test/panic-read HTTP/1.1", []string{"500 internal_error"}},
		{"POST /test/panic-change HTTP/1.1", []string{"0 ", "500 internal_error"}}, // attempt, outcome
	} {
		before := l.Size()
		c2 := dialRaw(t, a.addr)
		raw := strings.Join([]string{c.head, host, "Content-Type: application/json", "Content-Length: 0"}, "\r\n") + "\r\n\r\n"
		resp, body := c2.roundTrip(t, raw)
		if resp.StatusCode != 500 || adminErrorCode(t, body) != "internal_error" {
			t.Fatalf("%s: %d %s", c.head, resp.StatusCode, body)
		}
		if strings.Contains(string(body), "half an answer") || strings.Contains(string(body), "defect") {
			t.Errorf("%s: the failed handler's answer or the panic reached the caller: %s", c.head, body)
		}
		if !resp.Close {
			t.Errorf("%s: the connection of a failed admin request is kept", c.head)
		}
		var got []string
		for i := before; i < l.Size(); i++ {
			rec, err := l.Record(i)
			r, perr := audit.ParseRecord(rec)
			if err != nil || perr != nil || r.Kind != audit.KindAdmin {
				t.Fatalf("%s: record %d: %v %v %s", c.head, i, err, perr, rec)
			}
			got = append(got, fmt.Sprintf("%d %s", r.Status, r.Error))
		}
		if fmt.Sprint(got) != fmt.Sprint(c.records) {
			t.Errorf("%s: recorded %q, want %q", c.head, got, c.records)
		}
	}

	// The process, its admin API and every department's exchanges go on.
	if status, _, body := a.send(t, []string{"GET /healthz HTTP/1.1", host}, ""); status != 200 {
		t.Errorf("healthz after the panics: %d %s", status, body)
	}
	if status, _, body := do(t, "GET", g.base+"/population/v1/persons?id=110101199003077777", "", rensheju); status != 200 {
		t.Errorf("an exchange after the panics: %d %s", status, body)
	}
}
