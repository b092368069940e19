package assemble

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto/tlcp"
)

// TestCommitDelayReachesTheLog: audit.commit_delay is the audit log's commit delay — with
// departments calling at once, the gateway holds group commits open
// (govgate_audit_commits_held_total counts them) and every exchange still carries a
// receipt; without the key, nothing is held.
func TestCommitDelayReachesTheLog(t *testing.T) {
	p := newTestPKI(t)
	pln := startProvider(t)
	for _, delay := range []time.Duration{0, 10 * time.Millisecond} {
		listen, admin := freeAddr(t), freeAddr(t)
		cfg := exampleConfig(t, p, listen, admin, pln.Addr().String())
		cfg.Audit.CommitDelay = delay
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		startBuilt(t, cfg, quiet)
		held := heldAfterConcurrentCalls(t, p, listen, admin)
		if delay == 0 && held != "0" {
			t.Errorf("no commit delay configured, yet %s commits held", held)
		}
		if delay > 0 && (held == "" || held == "0") {
			t.Errorf("commit_delay %s with 16 departments calling at once: %q commits held, want some", delay, held)
		}
	}
}

// heldAfterConcurrentCalls makes 16 clients call 15 times each at once, checks that every
// answer carries a receipt, and returns govgate_audit_commits_held_total.
func heldAfterConcurrentCalls(t *testing.T, p *testPKI, listen, admin string) string {
	t.Helper()
	ts, err := tlcp.NewTrustStore([]*smx509.Certificate{p.ca.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	trust := &tlcp.TrustSource{}
	trust.Store(ts)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := client.New(client.Config{Identity: &tlcp.Identity{SignCert: p.dept.SignCert, SignKey: p.dept.SignKey, EncCert: p.dept.EncCert, EncKey: p.dept.EncKey},
				Trust: trust, ServerName: "localhost"})
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for range 15 {
				resp, err := c.Do(t.Context(), client.Request{Method: "GET", URL: "https://" + listen + "/enterprise/v1/companies/91110108MA01A2B3C4",
					Agreement: "AGR-2025-0219", Purpose: "tax-registration"})
				if err != nil || resp.Status != 200 || resp.Receipt == "" {
					t.Errorf("exchange under the commit delay: %v %+v", err, resp)
					return
				}
			}
		}()
	}
	wg.Wait()
	status, body, err := fasthttp.Get(nil, "http://"+admin+"/metrics")
	if err != nil || status != 200 {
		t.Fatalf("GET /metrics: %v %d", err, status)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "govgate_audit_commits_held_total "); ok {
			return v
		}
	}
	return ""
}
