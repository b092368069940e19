package gateway_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	. "github.com/govgate/govgate/gateway"

	"github.com/valyala/fasthttp"
)

// flakyAuditor records the first ok calls and fails every later one.
type flakyAuditor struct {
	mu    sync.Mutex
	ok    int
	paths []string
}

func (a *flakyAuditor) Audit(ctx *fasthttp.RequestCtx, x *Exchange, _ []byte) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ok == 0 {
		return nil, errors.New("write audit segment: no space left on device")
	}
	a.ok--
	a.paths = append(a.paths, string(ctx.Path()))
	return nil, nil
}

// TestAdminAuditFailClosed: while the log fails, the probes answer and every other admin
// request is refused 503 audit_unavailable; a reload whose attempt was recorded but whose
// outcome could not be runs, and its answer says so.
func TestAdminAuditFailClosed(t *testing.T) {
	a := &flakyAuditor{}
	g := startPolicyGateway(t, 0, taxpayer, func(_ string, s *gatewaySetup) { s.auditor = a })
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/healthz", 200},
		{"GET", "/readyz", 200},
		{"GET", "/metrics", 200},
		{"GET", "/config", 503},
		{"GET", "/policy", 503},
		{"POST", "/policy/reload", 503},
		{"GET", "/nowhere", 503},
	} {
		status, h, body := do(t, c.method, g.admin+c.path, "", nil)
		if status != c.want || (status == 503 && !strings.Contains(string(body), "audit_unavailable")) {
			t.Errorf("%s %s with a failing log: %d %s, want %d", c.method, c.path, status, body, c.want)
		}
		if h.Get("X-Request-Id") == "" {
			t.Errorf("%s %s: no X-Request-Id", c.method, c.path)
		}
	}

	before := g.stage.Engine.Revision().ID
	agreements := strings.Replace(testAgreements, "fields: [taxpayer_id, name, tax_status]", "fields: [taxpayer_id, name, tax_status, credit_rating]", 1)
	if err := os.WriteFile(filepath.Join(g.dir, "agreements.yaml"), []byte(strings.Replace(agreements, "QUOTA", "0", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.ok = 1 // the attempt is recorded, the outcome is not
	a.mu.Unlock()
	status, _, body := do(t, "POST", g.admin+"/policy/reload", "", nil)
	if status != 503 || !strings.Contains(string(body), "carried out") {
		t.Errorf("reload whose outcome could not be recorded: %d %s", status, body)
	}
	if g.stage.Engine.Revision().ID == before {
		t.Error("the recorded attempt did not run")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.paths) != 1 || a.paths[0] != "/policy/reload" {
		t.Errorf("records: %v", a.paths)
	}
}
