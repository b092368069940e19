package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/decide"
	"github.com/govgate/govgate/gateway/identity"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto/tlcp"
	"github.com/govgate/govgate/policy"
)

// TestAdminRoles: with admin.tlcp each role reaches its own endpoints and is refused
// (403) elsewhere, a certificate without a role is refused, and every action, allowed or
// refused, is recorded in the audit log.
func TestAdminRoles(t *testing.T) {
	ca, ids, trust := newTLCPServerPKI(t)
	engine, err := policy.New(context.Background(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ps := decide.NewPolicyStage(engine)
	var l *audit.Log
	var setup gatewaySetup
	withAuditLog(t, t.TempDir(), &l)("", &setup)
	up := startUpstream(t, nil)
	cfg := testConfig(up.addr)
	cfg.Admin.TLCP = true
	cfg.TLCP = TLCP{SignCert: "x", SignKey: "x", EncCert: "x", EncKey: "x", ClientCA: "x"}
	cfg.Listeners[0].Transport = TransportTLCP
	cfg.ApplyDefaults()
	tr := &TLCPTransport{Identity: ids, Trust: trust}
	gw := startGateway(t, cfg, Options{Stages: Stages{
		Authenticate: identity.NewPeerAuthenticator(0, 1000), Decide: ps, Release: ps, Audit: setup.auditor,
		Transports: map[Transport]ListenerProvider{TransportTLCP: tr},
		Admin:      append(ps.AdminHandlers(), setup.admin...),
	}})
	admin := "https://" + gw.AdminAddr().String()
	as := func(roles ...string) *client.Client {
		p, err := ca.IssuePair(certs.PairRequest{System: "admin-" + strings.Join(roles, "+"), Roles: roles})
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.New(client.Config{Identity: tlcpIdentity(p), Trust: trust, ServerName: "localhost", Unsigned: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	status := func(c *client.Client, method, path string) int {
		t.Helper()
		resp, err := c.Do(context.Background(), client.Request{Method: method, URL: admin + path})
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return resp.Status
	}
	officer, crypto, auditor, operator, nobody := as("security-officer"), as("crypto-admin"), as("auditor"), as("operator"), as()
	before := l.Size()
	for _, c := range []struct {
		who          *client.Client
		name, method string
		path         string
		want         int
	}{
		{officer, "officer", "GET", "/policy", 200},
		{officer, "officer", "POST", "/policy/reload", 200},
		{officer, "officer", "GET", "/metrics", 403},
		{officer, "officer", "GET", "/audit/records/0", 403},
		{auditor, "auditor", "GET", "/audit/records/0", 200},
		{auditor, "auditor", "POST", "/policy/reload", 403},
		{operator, "operator", "GET", "/metrics", 200},
		{operator, "operator", "GET", "/readyz", 200},
		{operator, "operator", "GET", "/policy", 403},
		{crypto, "crypto-admin", "GET", "/policy", 403},
		{nobody, "no role", "GET", "/healthz", 403},
	} {
		if got := status(c.who, c.method, c.path); got != c.want {
			t.Errorf("%s %s %s: %d, want %d", c.name, c.method, c.path, got, c.want)
		}
	}
	// One record per request, and two for the state change that ran (the officer's POST
	// /policy/reload): its attempt, made durable before the reload, then its outcome —
	// but none for the operator's answered probes (/metrics, /readyz); refused probes
	// (the officer's /metrics, the role-less /healthz) are recorded.
	if got := l.Size() - before; got != 10 {
		t.Errorf("%d admin records, want one per request but the 2 answered probes, and two for the reload that ran: 10", got)
	}
	attempt, _ := l.Record(before + 1)
	outcome, _ := l.Record(before + 2)
	a, _ := audit.ParseRecord(attempt)
	o, _ := audit.ParseRecord(outcome)
	if a == nil || o == nil || a.Path != "/policy/reload" || a.Status != 0 || o.Status != 200 || a.RequestID != o.RequestID || a.Consumer.System != "admin-security-officer" {
		t.Errorf("the reload's records: attempt %s, outcome %s", attempt, outcome)
	}
	rec, err := l.Record(l.Size() - 1)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := audit.ParseRecord(rec)
	if r.Kind != audit.KindAdmin || r.Role != "operator" || r.Route != "" || r.Provider != "" || r.Resource != "" ||
		r.Status != 403 || r.Error != "role_required" || r.Consumer.System != "admin-" {
		t.Errorf("the last admin record: %+v", r)
	}
}

// newTLCPServerPKI is a root CA, the gateway's TLCP identity issued by it for localhost, and
// a trust store holding the CA with no CRL.
func newTLCPServerPKI(t *testing.T) (*certs.CA, *tlcp.IdentitySource, *tlcp.TrustSource) {
	t.Helper()
	ca, err := certs.NewRootCA("test root", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	gwPair, _ := ca.IssuePair(certs.PairRequest{System: "gw-test", DNSNames: []string{"localhost"}, Server: true})
	trust := &tlcp.TrustSource{}
	ts, _ := tlcp.NewTrustStore([]*smx509.Certificate{ca.Cert}, nil)
	trust.Store(ts)
	ids := &tlcp.IdentitySource{}
	if err := ids.Store(tlcpIdentity(gwPair)); err != nil {
		t.Fatal(err)
	}
	return ca, ids, trust
}
