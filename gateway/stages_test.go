package gateway_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	. "github.com/govgate/govgate/gateway"

	"github.com/valyala/fasthttp"
)

// Test doubles of the stages other packages supply. They live here, in _test.go files:
// no shipped code fakes a stage.

type recordingDecider struct {
	mu                 sync.Mutex
	agreement, purpose string
	deny               bool
	broken             bool
}

func (d *recordingDecider) Decide(_ *fasthttp.RequestCtx, x *Exchange) error {
	d.mu.Lock()
	d.agreement, d.purpose = string(x.Agreement), string(x.Purpose)
	d.mu.Unlock()
	if d.broken {
		return errors.New("rego: compile error in data.govgate.authz")
	}
	x.Decision.Evaluated = true
	x.Decision.Allow = !d.deny
	if d.deny {
		r := Reason{Code: "AGREEMENT_EXPIRED", Message: "agreement AGR-2026-0042 ended 2026-06-30"}
		return &Error{Status: 403, Code: "denied", Message: "the policy refused this exchange", Reasons: []Reason{r}}
	}
	return nil
}

type auditEntry struct {
	status int
	code   string
	route  string
	whole  string // the transfer's whole digest, when the gateway stated one
	prefix int64  // bytes the gateway read from the provider before a range, for it
}

type recordingAuditor struct {
	mu      sync.Mutex
	entries []auditEntry
	fail    bool
}

func (a *recordingAuditor) Audit(ctx *fasthttp.RequestCtx, x *Exchange, _ []byte) ([]byte, error) {
	if a.fail {
		return nil, errors.New("write audit segment: no space left on device")
	}
	e := auditEntry{status: ctx.Response.StatusCode()}
	if x.Err != nil {
		e.code = x.Err.Code
	}
	if x.Route != nil {
		e.route = x.Route.ID
	}
	if x.Transfer != nil {
		e.whole, e.prefix = x.Transfer.WholeDigest, x.Transfer.PrefixRead
	}
	a.mu.Lock()
	a.entries = append(a.entries, e)
	n := len(a.entries)
	a.mu.Unlock()
	return []byte("log=test; index=" + strings.Repeat("i", n)), nil
}

func (a *recordingAuditor) last() auditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.entries[len(a.entries)-1]
}

type refusingAuthenticator struct{}

func (refusingAuthenticator) Authenticate(_ *fasthttp.RequestCtx, x *Exchange) error {
	return Errorf(401, "no_client_certificate", "a department certificate is required")
}

func TestDenyIsRefusedWithReasonsAndAudited(t *testing.T) {
	up := startUpstream(t, nil)
	audit := &recordingAuditor{}
	gw := startGateway(t, testConfig(up.addr), Options{Stages: Stages{Decide: &recordingDecider{deny: true}, Audit: audit}})

	status, hdr, body := do(t, "GET", gw.base+"/population/v1/persons", "", nil)
	if status != 403 || errorCode(t, body) != "denied" {
		t.Fatalf("status %d %s", status, body)
	}
	var b ErrorBody
	json.Unmarshal(body, &b)
	if len(b.Error.Reasons) != 1 || b.Error.Reasons[0].Code != "AGREEMENT_EXPIRED" {
		t.Errorf("reasons = %+v", b.Error.Reasons)
	}
	if up.hits.Load() != 0 {
		t.Error("a denied exchange reached the upstream")
	}
	if got := audit.last(); got.status != 403 || got.code != "denied" || got.route != "population-query" {
		t.Errorf("audit saw %+v", got)
	}
	if hdr.Get(HeaderReceipt) == "" {
		t.Error("a refused exchange carries no receipt")
	}
}

func TestRefusalsBeforeRoutingAreAudited(t *testing.T) {
	up := startUpstream(t, nil)
	audit := &recordingAuditor{}
	cfg := testConfig(up.addr)
	cfg.Routes[0].MaxBodyBytes = 10
	gw := startGateway(t, cfg, Options{Stages: Stages{Audit: audit}})

	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/nowhere", "", 404},
		{"POST", "/population/v1/x", strings.Repeat("z", 11), 413},
	} {
		status, hdr, _ := do(t, c.method, gw.base+c.path, c.body, nil)
		if status != c.status || audit.last().status != c.status {
			t.Errorf("%s: status %d, audited %+v", c.path, status, audit.last())
		}
		if hdr.Get(HeaderReceipt) == "" {
			t.Errorf("%s: no receipt", c.path)
		}
	}
}

func TestFailClosed(t *testing.T) {
	up := startUpstream(t, nil)
	t.Run("audit cannot write", func(t *testing.T) {
		gw := startGateway(t, testConfig(up.addr), Options{Stages: Stages{Audit: &recordingAuditor{fail: true}}})
		status, hdr, body := do(t, "GET", gw.base+"/population/v1/persons", "", nil)
		if status != 503 || errorCode(t, body) != "audit_unavailable" {
			t.Fatalf("status %d %s", status, body)
		}
		if strings.Contains(string(body), "no space left") {
			t.Error("an internal error reached the caller")
		}
		if hdr.Get(HeaderReceipt) != "" {
			t.Error("receipt without a record")
		}
	})
	t.Run("policy cannot be evaluated", func(t *testing.T) {
		before := up.hits.Load()
		gw := startGateway(t, testConfig(up.addr), Options{Stages: Stages{Decide: &recordingDecider{broken: true}}})
		status, _, body := do(t, "GET", gw.base+"/population/v1/persons", "", nil)
		if status != 503 || errorCode(t, body) != "decide_unavailable" {
			t.Fatalf("status %d %s", status, body)
		}
		if up.hits.Load() != before {
			t.Error("an unevaluated exchange reached the upstream")
		}
	})
	t.Run("unauthenticated never reaches routing", func(t *testing.T) {
		gw := startGateway(t, testConfig(up.addr), Options{Stages: Stages{Authenticate: refusingAuthenticator{}}})
		for _, p := range []string{"/population/v1/persons", "/nowhere"} {
			status, _, body := do(t, "GET", gw.base+p, "", nil)
			if status != 401 || errorCode(t, body) != "no_client_certificate" {
				t.Errorf("%s: status %d %s", p, status, body)
			}
		}
	})
}

func TestReadyzNamesAbsentStages(t *testing.T) {
	up := startUpstream(t, nil)
	gw := startGateway(t, testConfig(up.addr), Options{Stages: Stages{Audit: &recordingAuditor{}}})
	status, _, body := do(t, "GET", gw.admin+"/readyz", "", nil)
	var r Readiness
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if status != 200 || !r.Ready {
		t.Fatalf("status %d %s", status, body)
	}
	want := []string{StageAuthenticate.String(), StageDecide.String(), StageRelease.String()}
	if strings.Join(r.AbsentStages, ",") != strings.Join(want, ",") || r.Stages[StageAudit.String()] != "ok" {
		t.Errorf("absent = %v, stages = %v", r.AbsentStages, r.Stages)
	}
}

func (a *recordingAuditor) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.entries)
}
