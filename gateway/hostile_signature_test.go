package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/identity"
	"github.com/govgate/govgate/gateway/record"

	"github.com/emmansun/gmsm/smx509"
	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/crypto/tlcp"
)

// The hostile-signature suite: a real TLCP gateway with a real audit log in front of a raw
// provider, and consumers that send signed requests byte by byte — repeated signature
// fields, replays, floods of nonces, dates in the future — over their own TLCP connections.
// Each test asserts the refusal, that nothing reached the provider, and that the refused
// exchange is on the record.

// sigPKI is a CA, the gateway's TLCP identity and the departments' signing pairs; it
// outlives a gateway so that a restarted one trusts the same consumers.
type sigPKI struct {
	trust *tlcp.TrustSource
	ids   *tlcp.IdentitySource
	depts map[string]*certs.Pair
	audit *audit.NoteSigner
}

func newSigPKI(t *testing.T, depts ...string) *sigPKI {
	t.Helper()
	ca, err := certs.NewRootCA("test root", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	gwPair, err := ca.IssuePair(certs.PairRequest{System: "gw-test", DNSNames: []string{"localhost"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	p := &sigPKI{trust: &tlcp.TrustSource{}, ids: &tlcp.IdentitySource{}, depts: map[string]*certs.Pair{}}
	ts, err := tlcp.NewTrustStore([]*smx509.Certificate{ca.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.trust.Store(ts)
	if err := p.ids.Store(tlcpIdentity(gwPair)); err != nil {
		t.Fatal(err)
	}
	for _, d := range depts {
		if p.depts[d], err = ca.IssuePair(certs.PairRequest{Dept: d, System: d + "-system"}); err != nil {
			t.Fatal(err)
		}
	}
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if p.audit, err = audit.NewNoteSigner("gw-test-audit", key); err != nil {
		t.Fatal(err)
	}
	return p
}

// sigGateway is one run of a gateway over an audit directory.
type sigGateway struct {
	*testGateway
	addr      string // the TLCP listener
	log       *audit.Log
	auth      *identity.PeerAuthenticator
	decisions *countingDecider
}

// countingDecider allows every exchange and counts the decisions — where the policy stage
// would take quota — so that a test sees which refusals came before any decision.
type countingDecider struct{ n atomic.Int64 }

func (d *countingDecider) Decide(*fasthttp.RequestCtx, *Exchange) error {
	d.n.Add(1)
	return nil
}

// start runs a TLCP gateway routing /population/v1 to provider, auditing into dir, with
// the signature policy pol. Like the command, it rebuilds the replay window from the
// audit log before the listener serves.
func (p *sigPKI) start(t *testing.T, provider, dir string, pol SignaturePolicy) *sigGateway {
	t.Helper()
	cfg := testConfig(provider)
	cfg.Listeners[0].Transport = TransportTLCP
	cfg.TLCP = TLCP{SignCert: "s.pem", SignKey: "s.key", EncCert: "e.pem", EncKey: "e.key", ClientCA: "ca.pem"}
	cfg.ApplyDefaults()
	stage := &record.AuditStage{GatewayID: "gw-test"}
	l, err := audit.Open(audit.Options{Dir: dir, Origin: "govgate/gw-test", Signer: p.audit, CheckpointInterval: 100 * time.Millisecond, OnCommit: stage.ObserveCommit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	stage.Log = l
	auth := identity.NewPeerAuthenticatorWith(pol)
	if _, err := auth.RebuildReplayWindow(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	decisions := &countingDecider{}
	gw := startGateway(t, cfg, Options{Stages: Stages{
		Authenticate: auth,
		Transports:   map[Transport]ListenerProvider{TransportTLCP: &TLCPTransport{Identity: p.ids, Trust: p.trust}},
		Decide:       decisions,
		Audit:        stage,
	}})
	return &sigGateway{testGateway: gw, addr: gw.ListenerAddr("ext").String(), log: l, auth: auth, decisions: decisions}
}

// stop shuts the gateway down and closes its audit log, as a restart would.
func (g *sigGateway) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.log.Close(); err != nil {
		t.Fatal(err)
	}
}

// signed returns the raw bytes of a request signed by dept's key with created as its
// time, with extra header lines after the signature fields.
func (p *sigPKI) signed(t *testing.T, dept, host, method, target, body string, created time.Time, extra ...string) string {
	t.Helper()
	pair := p.depts[dept]
	path, query, _ := strings.Cut(target, "?")
	msg := &crypto.Message{Method: method, Scheme: "https", Authority: host, Path: path, Query: query, Header: func(string) []string { return nil }}
	sh, err := crypto.SignRequest(crypto.NewSigner(pair.SignKey), fmt.Sprintf("%x", pair.SignCert.SerialNumber), msg, []byte(body), created)
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{"Content-Digest: " + sh.ContentDigest, "Signature-Input: " + sh.SignatureInput, "Signature: " + sh.Signature}
	return rawRequest(method, target, host, body, append(lines, extra...)...)
}

func rawRequest(method, target, host, body string, headers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, host)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	return b.String()
}

// send writes raw over a new TLCP connection with dept's certificate and reads the answer.
func (p *sigPKI) send(t *testing.T, addr, dept, raw string) (int, http.Header, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := tlcp.Dial(ctx, "tcp", addr, tlcp.ClientConfig{Identity: tlcpIdentity(p.depts[dept]), Trust: p.trust, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// routed is how many requests for the route reached the provider (health probes aside).
func routed(rp *rawProvider) int {
	n := 0
	for _, r := range rp.requests() {
		if line, _, _ := rawHead(r); strings.Contains(line, "/population/") {
			n++
		}
	}
	return n
}

// wantRefused checks a refusal's status and code, and that it is on the record.
func (g *sigGateway) wantRefused(t *testing.T, name string, status int, h http.Header, body []byte, wantStatus int, code string) *audit.Record {
	t.Helper()
	if status != wantStatus || errorCode(t, body) != code {
		t.Errorf("%s: %d %s, want %d %s", name, status, body, wantStatus, code)
	}
	rec := recordOf(t, g.log, h.Get(HeaderReceipt))
	if rec.Status != wantStatus || rec.Error != code {
		t.Errorf("%s: recorded status %d error %q", name, rec.Status, rec.Error)
	}
	return rec
}

const dept = "110000-rensheju"

// TestSignatureRepeatedFieldsRefused: a valid signed request with a second Signature,
// Signature-Input or Content-Digest — another line in any case, another member joined by
// a comma, the same label twice — is refused with 400 signature_field_repeated before it
// is forwarded, and recorded without a signature; the log then verifies clean, so that a
// consumer cannot plant a record the auditor's verify stops at.
func TestSignatureRepeatedFieldsRefused(t *testing.T) {
	rp := startRawProvider(t, nil)
	pki := newSigPKI(t, dept)
	dir := t.TempDir()
	g := pki.start(t, rp.addr, dir, SignaturePolicy{})
	const target = "/population/v1/persons?id=1"
	replace := func(raw, name, value string) string {
		i := strings.Index(raw, "\r\n"+name+": ")
		j := strings.Index(raw[i+2:], "\r\n")
		return raw[:i+2] + name + ": " + value + raw[i+2+j:]
	}
	valueOf := func(raw, name string) string {
		i := strings.Index(raw, "\r\n"+name+": ")
		v := raw[i+4+len(name):]
		return v[:strings.Index(v, "\r\n")]
	}
	cases := []struct {
		name  string
		build func(raw string) string
	}{
		{"second Signature line", nil},
		{"second signature line in lower case", nil},
		{"second Signature-Input line", nil},
		{"second signature-input line in lower case", nil},
		{"second Content-Digest line", nil},
		{"Signature member joined", func(raw string) string {
			return replace(raw, "Signature", valueOf(raw, "Signature")+", other=:AAAA:")
		}},
		{"Signature label twice", func(raw string) string {
			return replace(raw, "Signature", valueOf(raw, "Signature")+", "+valueOf(raw, "Signature"))
		}},
		{"Signature-Input member joined", func(raw string) string {
			return replace(raw, "Signature-Input", valueOf(raw, "Signature-Input")+`, other=("@method");created=1`)
		}},
		{"Content-Digest second algorithm", func(raw string) string {
			return replace(raw, "Content-Digest", valueOf(raw, "Content-Digest")+", sha-256=:AAAA:")
		}},
	}
	extra := map[string]func(raw string) string{
		"second Signature line":                     func(raw string) string { return "Signature: other=:AAAA:" },
		"second signature line in lower case":       func(raw string) string { return "signature: other=:AAAA:" },
		"second Signature-Input line":               func(raw string) string { return "Signature-Input: " + valueOf(raw, "Signature-Input") },
		"second signature-input line in lower case": func(raw string) string { return "signature-input: other=(\"@method\");created=1" },
		"second Content-Digest line":                func(raw string) string { return "content-digest: sha-256=:AAAA:" },
	}
	for _, c := range cases {
		raw := pki.signed(t, dept, g.addr, "GET", target, "", time.Now())
		if f := extra[c.name]; f != nil {
			raw = pki.signed(t, dept, g.addr, "GET", target, "", time.Now(), f(raw))
		} else {
			raw = c.build(raw)
		}
		status, h, body := pki.send(t, g.addr, dept, raw)
		// A repeated line is refused by the header pass before any stage runs
		// (ambiguous_header); repeated members within one line by the signature parser.
		code := crypto.SigRepeated
		if extra[c.name] != nil {
			code = "ambiguous_header"
		}
		rec := g.wantRefused(t, c.name, status, h, body, 400, code)
		if rec.Signature != nil {
			t.Errorf("%s: a refused signature was recorded as the consumer's: %+v", c.name, rec.Signature)
		}
	}
	// Unsigned, a repeated Content-Digest is refused too: the provider would read one.
	status, h, body := pki.send(t, g.addr, dept, rawRequest("POST", target, g.addr, "{}", "Content-Digest: sm3=:AAAA:", "Content-Digest: sm3=:BBBB:"))
	g.wantRefused(t, "unsigned, two digests", status, h, body, 400, "ambiguous_header")
	if n := routed(rp); n != 0 {
		t.Fatalf("%d refused requests reached the provider", n)
	}

	// The same request without the repetition is served, and its record holds exactly
	// the fields that were verified.
	raw := pki.signed(t, dept, g.addr, "GET", target, "", time.Now())
	status, h, body = pki.send(t, g.addr, dept, raw)
	if status != 200 {
		t.Fatalf("clean signed request: %d %s", status, body)
	}
	rec := recordOf(t, g.log, h.Get(HeaderReceipt))
	if rec.Signature == nil || rec.Signature.Input != valueOf(raw, "Signature-Input") || rec.Signature.Signature != valueOf(raw, "Signature") || rec.ContentDigest != valueOf(raw, "Content-Digest") {
		t.Errorf("recorded %+v, digest %q", rec.Signature, rec.ContentDigest)
	}
	if n := routed(rp); n != 1 {
		t.Errorf("%d requests reached the provider, want 1", n)
	}
	g.stop(t)
	keys, err := audit.LoadKeySet(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := audit.Verify(dir, keys); err != nil || rep.Signed != 1 {
		t.Errorf("the log after the attempts: %+v %v", rep, err)
	}
}

// TestSignatureReplayRefused: the captured bytes of a served signed request, sent again,
// are refused 401 signature_replayed before any policy decision (no quota taken), not
// forwarded, and recorded.
func TestSignatureReplayRefused(t *testing.T) {
	rp := startRawProvider(t, nil)
	pki := newSigPKI(t, dept)
	g := pki.start(t, rp.addr, t.TempDir(), SignaturePolicy{})
	raw := pki.signed(t, dept, g.addr, "POST", "/population/v1/persons", `{"id":"1"}`, time.Now())
	if status, _, body := pki.send(t, g.addr, dept, raw); status != 200 {
		t.Fatalf("first: %d %s", status, body)
	}
	for range 3 {
		status, h, body := pki.send(t, g.addr, dept, raw)
		g.wantRefused(t, "replay", status, h, body, 401, crypto.SigReplayed)
	}
	if n := routed(rp); n != 1 {
		t.Errorf("the provider received %d requests, want 1", n)
	}
	if n := g.decisions.n.Load(); n != 1 {
		t.Errorf("%d policy decisions, want 1: a replay reached the policy (and its quota)", n)
	}
}

// TestSignatureReplayRefusedAfterRestart: a signed request captured before a restart is
// refused after it — the new gateway rebuilt its replay window from the audit log's tail
// before serving — and the refusal is on the record; fresh requests are served.
func TestSignatureReplayRefusedAfterRestart(t *testing.T) {
	rp := startRawProvider(t, nil)
	pki := newSigPKI(t, dept)
	dir := t.TempDir()
	g := pki.start(t, rp.addr, dir, SignaturePolicy{})
	captured := pki.signed(t, dept, g.addr, "POST", "/population/v1/persons", `{"id":"1"}`, time.Now())
	if status, _, body := pki.send(t, g.addr, dept, captured); status != 200 {
		t.Fatalf("first: %d %s", status, body)
	}
	// Another request refused before forwarding (no route): it used no nonce, so the
	// rebuilt window does not hold it either.
	unrouted := pki.signed(t, dept, g.addr, "GET", "/nowhere", "", time.Now())
	if status, _, _ := pki.send(t, g.addr, dept, unrouted); status != 404 {
		t.Fatalf("unrouted: %d", status)
	}
	g.stop(t)

	g = pki.start(t, rp.addr, dir, SignaturePolicy{})
	// The listener's address changed; the captured request is replayed to the new one
	// exactly as captured, Host and all — the gateway does not check Host against itself,
	// but @authority is signed, so the replay must carry the old one to verify.
	status, h, body := pki.send(t, g.addr, dept, captured)
	g.wantRefused(t, "replay after restart", status, h, body, 401, crypto.SigReplayed)
	if n := g.decisions.n.Load(); n != 0 {
		t.Errorf("the replay after restart reached a policy decision")
	}
	if n := routed(rp); n != 1 {
		t.Errorf("the provider received %d requests, want 1", n)
	}
	if status, _, body := pki.send(t, g.addr, dept, pki.signed(t, dept, g.addr, "GET", "/population/v1/persons", "", time.Now())); status != 200 {
		t.Errorf("fresh request after restart: %d %s", status, body)
	}
}

// TestSignatureUnroutedRequestsUseNoShare: a signed request the gateway refuses before
// forwarding (no route) claims no nonce, so that it cannot use up the department's share;
// forwarded ones do, and past the share the department is refused 503 replay_cache_full.
func TestSignatureUnroutedRequestsUseNoShare(t *testing.T) {
	rp := startRawProvider(t, nil)
	pki := newSigPKI(t, dept)
	g := pki.start(t, rp.addr, t.TempDir(), SignaturePolicy{MaxNoncesPerDept: 1})
	for range 3 {
		status, h, body := pki.send(t, g.addr, dept, pki.signed(t, dept, g.addr, "GET", "/nowhere", "", time.Now()))
		g.wantRefused(t, "unrouted", status, h, body, 404, "no_route")
	}
	if status, _, body := pki.send(t, g.addr, dept, pki.signed(t, dept, g.addr, "GET", "/population/v1/persons", "", time.Now())); status != 200 {
		t.Fatalf("routed after unrouted ones: %d %s", status, body)
	}
	status, h, body := pki.send(t, g.addr, dept, pki.signed(t, dept, g.addr, "GET", "/population/v1/persons", "", time.Now()))
	g.wantRefused(t, "past the share", status, h, body, 503, crypto.SigReplayFull)
	if n := routed(rp); n != 1 {
		t.Errorf("the provider received %d requests, want 1", n)
	}
}

// TestSignatureShareIsPerDepartment: one department filling its share of the replay cache
// is refused alone; another department's signed requests are still served.
func TestSignatureShareIsPerDepartment(t *testing.T) {
	const other = "110000-gongan"
	rp := startRawProvider(t, nil)
	pki := newSigPKI(t, dept, other)
	g := pki.start(t, rp.addr, t.TempDir(), SignaturePolicy{MaxNonces: 100, MaxNoncesPerDept: 3})
	// Dated 29 s ahead, the longest-lived nonces the gateway accepts.
	for i := range 3 {
		if status, _, body := pki.send(t, g.addr, dept, pki.signed(t, dept, g.addr, "GET", "/population/v1/persons", "", time.Now().Add(29*time.Second))); status != 200 {
			t.Fatalf("flood %d: %d %s", i, status, body)
		}
	}
	status, h, body := pki.send(t, g.addr, dept, pki.signed(t, dept, g.addr, "GET", "/population/v1/persons", "", time.Now()))
	g.wantRefused(t, "flooding department", status, h, body, 503, crypto.SigReplayFull)
	for i := range 3 {
		if status, _, body := pki.send(t, g.addr, other, pki.signed(t, other, g.addr, "GET", "/population/v1/persons", "", time.Now())); status != 200 {
			t.Fatalf("other department %d: %d %s", i, status, body)
		}
	}
	if n := routed(rp); n != 6 {
		t.Errorf("the provider received %d requests, want 6", n)
	}
}

// TestSignatureFromTheFutureRefused: created may be only FutureSkew (default 30 s) ahead
// of the gateway's clock, though it may be Skew (300 s) behind it.
func TestSignatureFromTheFutureRefused(t *testing.T) {
	rp := startRawProvider(t, nil)
	pki := newSigPKI(t, dept)
	g := pki.start(t, rp.addr, t.TempDir(), SignaturePolicy{})
	status, h, body := pki.send(t, g.addr, dept, pki.signed(t, dept, g.addr, "GET", "/population/v1/persons", "", time.Now().Add(90*time.Second)))
	g.wantRefused(t, "90 s ahead", status, h, body, 401, crypto.SigExpired)
	if n := routed(rp); n != 0 {
		t.Errorf("a request from the future reached the provider")
	}
	for _, at := range []time.Duration{10 * time.Second, -200 * time.Second} {
		if status, _, body := pki.send(t, g.addr, dept, pki.signed(t, dept, g.addr, "GET", "/population/v1/persons", "", time.Now().Add(at))); status != 200 {
			t.Errorf("created %v from now: %d %s", at, status, body)
		}
	}
}
