package gateway_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"

	"github.com/govgate/govgate/audit"
)

// kindsTarget is a gateway with the real policy engine and a real audit log, whose data
// route and pool are both named "admin" — the names version 1 gave admin actions.
type kindsTarget struct {
	*adminTarget
	dir string
}

func startKindsTarget(t *testing.T) *kindsTarget {
	t.Helper()
	dir := t.TempDir()
	var l *audit.Log
	g := startPolicyGateway(t, 0, taxpayer, withAuditLog(t, dir, &l), func(_ string, s *gatewaySetup) {
		s.config = func(c *Config) {
			c.Pools[0].ID = "admin"
			for i := range c.Routes {
				c.Routes[i].Pool = "admin"
			}
			c.Routes[0].ID = "admin"
		}
	})
	addr := g.AdminAddr().String()
	_, port, _ := strings.Cut(addr, ":")
	return &kindsTarget{&adminTarget{g: g, addr: addr, port: port, log: l}, dir}
}

// records returns the records appended since index from, parsed.
func (k *kindsTarget) records(t *testing.T, from uint64) []*audit.Record {
	t.Helper()
	var out []*audit.Record
	for i := from; i < k.log.Size(); i++ {
		b, err := k.log.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		r, err := audit.ParseRecord(b)
		if err != nil {
			t.Fatalf("record %d: %v: %s", i, err, b)
		}
		out = append(out, r)
	}
	return out
}

// wantAdmin checks that r is an admin action on the record as itself: who (the loopback
// client), what (method, path, role) and the outcome, and nothing of a data exchange.
func wantAdmin(t *testing.T, name string, r *audit.Record, method, path string, status int, code string) {
	t.Helper()
	if r.Kind != audit.KindAdmin || r.Role != "operator" || r.Method != method || r.Path != path || r.Status != status || r.Error != code ||
		!strings.HasPrefix(r.Client, "127.0.0.1:") || r.Route != "" || r.Provider != "" || r.Resource != "" || r.Upstream != "" {
		t.Errorf("%s: %+v, want an admin record of %s %s, status %d, error %q", name, r, method, path, status, code)
	}
}

// TestAdminRecordKinds, over a real admin listener and a real audit log: scraping the
// probes adds no record however often; reading the config adds one; POST /reload adds
// its attempt (status 0) and its outcome under one request id; a cross-site POST /reload
// and a cross-site scrape, refused, are each recorded. Every admin record is of kind
// admin and names no route or pool; the data route named "admin" on pool "admin" is
// recorded as an exchange and counted in the sharing report, which counts no admin
// action; and the whole log verifies.
func TestAdminRecordKinds(t *testing.T) {
	k := startKindsTarget(t)
	host := "Host: 127.0.0.1:" + k.port

	before := k.log.Size()
	for range 10 {
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			if status, _, body := k.send(t, []string{"GET " + path + " HTTP/1.1", host}, ""); status != 200 {
				t.Fatalf("GET %s: %d %s", path, status, body)
			}
		}
	}
	// A probe from a load balancer naming no admin host is answered and not recorded either.
	if status, _, _ := k.send(t, []string{"GET /healthz HTTP/1.1", "Host: 10.9.9.9"}, ""); status != 200 {
		t.Fatalf("probe by address: %d", status)
	}
	if n := k.log.Size() - before; n != 0 {
		t.Fatalf("31 answered probes added %d records, want none: %+v", n, k.records(t, before))
	}

	if status, _, _ := k.send(t, []string{"GET /config HTTP/1.1", host}, ""); status != 200 {
		t.Fatalf("GET /config: %d", status)
	}
	recs := k.records(t, before)
	if len(recs) != 1 {
		t.Fatalf("GET /config: %d records, want 1", len(recs))
	}
	wantAdmin(t, "GET /config", recs[0], "GET", "/config", 200, "")

	// The operator's client sends a Content-Digest, which an admin record has no place
	// for: it is left out, not a reason to refuse the record (and so the reload).
	before = k.log.Size()
	status, _, body := k.send(t, []string{"POST /reload HTTP/1.1", host, "Content-Digest: sha-256=:AAAA:"}, "")
	if status == 503 {
		t.Fatalf("POST /reload with a Content-Digest: %d %s", status, body)
	}
	recs = k.records(t, before)
	if len(recs) != 2 {
		t.Fatalf("POST /reload (%d %s): %d records, want its attempt and outcome", status, body, len(recs))
	}
	wantAdmin(t, "the reload's attempt", recs[0], "POST", "/reload", 0, "")
	wantAdmin(t, "the reload's outcome", recs[1], "POST", "/reload", status, recs[1].Error)
	if recs[0].RequestID != recs[1].RequestID || recs[0].RequestID == "" {
		t.Errorf("attempt %q and outcome %q are not one request", recs[0].RequestID, recs[1].RequestID)
	}

	before = k.log.Size()
	for _, c := range []struct{ name, head string }{
		{"cross-site POST /reload", "POST /reload HTTP/1.1"},
		{"cross-site scrape", "GET /metrics HTTP/1.1"},
	} {
		if status, code, _ := k.send(t, []string{c.head, host, "Origin: http://evil.example"}, ""); status != 403 || code != "cross_site_refused" {
			t.Fatalf("%s: %d %s", c.name, status, code)
		}
	}
	recs = k.records(t, before)
	if len(recs) != 2 {
		t.Fatalf("2 refused cross-site requests: %d records, want 2", len(recs))
	}
	wantAdmin(t, "the refused cross-site POST", recs[0], "POST", "/reload", 403, "cross_site_refused")
	wantAdmin(t, "the refused cross-site scrape", recs[1], "GET", "/metrics", 403, "cross_site_refused")

	// The data side, on the route and pool named "admin".
	before = k.log.Size()
	if status, _, body := do(t, "GET", k.g.base+"/population/v1/persons?id=110101199003077777", "", rensheju); status != 200 {
		t.Fatalf("exchange on the route named admin: %d %s", status, body)
	}
	if status, _, _ := do(t, "GET", k.g.base+"/nowhere", "", rensheju); status != 404 {
		t.Fatalf("unrouted: %d", status)
	}
	if status, _, body := do(t, "GET", k.g.base+CatalogPath, "", rensheju); status != 200 {
		t.Fatalf("catalog: %d %s", status, body)
	}
	recs = k.records(t, before)
	if len(recs) != 3 || recs[0].Kind != audit.KindExchange || recs[0].Route != "admin" || recs[0].Provider != "admin" ||
		recs[1].Kind != audit.KindRefusal || recs[1].Error != "no_route" || recs[2].Kind != audit.KindCatalog {
		for _, r := range recs {
			t.Errorf("data record: %+v", *r)
		}
	}

	if err := k.log.Close(); err != nil {
		t.Fatal(err)
	}
	keys, err := audit.LoadKeySet(filepath.Join(k.dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := audit.Verify(k.dir, keys); err != nil {
		t.Fatalf("the log does not verify: %v (%+v)", err, rep)
	}
	rows, err := audit.Report(k.dir, audit.ReportOptions{To: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	// The report counts the 3 data records — the exchange on the route named admin, the
	// refusal, the catalog read — and none of the 5 admin records.
	var onAdminRoute, counted int
	for _, r := range rows {
		if r.Pool == "admin" && r.Resource == "population.basic" {
			onAdminRoute += r.Allowed
		}
		counted += r.Allowed + r.Denied + r.Failed
	}
	if onAdminRoute != 1 || counted != 3 {
		t.Errorf("report: %d allowed on the route named admin (want 1), %d records counted (want 3): %+v", onAdminRoute, counted, rows)
	}
}
