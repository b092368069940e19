package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/decide"
	"github.com/govgate/govgate/gateway/identity"
	"github.com/govgate/govgate/gateway/record"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/policy"
)

// Second round of attacks by a hostile consumer or provider over real sockets. Each test
// here FAILS on the code it was written against: it states what should hold and shows
// that it does not.

// attack2Gateway is the production assembly the hostile suites lack in one piece: a TLCP
// listener with the real identity.PeerAuthenticator (SM2 request signatures, replay cache), the
// real policy engine over the shipped Rego (decide, quota, release) and a real audit log,
// in front of a raw provider.
type attack2Gateway struct {
	*testGateway
	addr string
	log  *audit.Log
	pki  *sigPKI
}

func startAttack2TLCP(t *testing.T, provider string, quota int) *attack2Gateway {
	t.Helper()
	pki := newSigPKI(t, "110000-rensheju", "110000-tongji")
	engine, err := policy.New(context.Background(), policy.Options{Dir: policyDir(t, quota)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(provider)
	cfg.Listeners[0].Transport = TransportTLCP
	cfg.TLCP = TLCP{SignCert: "s.pem", SignKey: "s.key", EncCert: "e.pem", EncKey: "e.key", ClientCA: "ca.pem"}
	cfg.Routes = append(cfg.Routes,
		Route{ID: "tax-query", PathPrefix: "/tax/v1", Resource: "tax.registration", Mode: ModeQuery, Pool: "population", TargetZone: ZoneInternal, Timeout: 2 * time.Second},
		Route{ID: "tiles", PathPrefix: "/tiles", Resource: "geographic.tiles", Mode: ModeQuery, Pool: "population", TargetZone: ZoneInternal, Timeout: 2 * time.Second},
	)
	cfg.ApplyDefaults()
	dir := t.TempDir()
	stage := &record.AuditStage{GatewayID: "gw-test"}
	l, err := audit.Open(audit.Options{Dir: dir, Origin: "govgate/gw-test", Signer: pki.audit, CheckpointInterval: 100 * time.Millisecond, OnCommit: stage.ObserveCommit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	stage.Log = l
	ps := decide.NewPolicyStage(engine)
	gw := startGateway(t, cfg, Options{Stages: Stages{
		Authenticate: identity.NewPeerAuthenticatorWith(SignaturePolicy{}),
		Transports:   map[Transport]ListenerProvider{TransportTLCP: &TLCPTransport{Identity: pki.ids, Trust: pki.trust}},
		Decide:       ps, Release: ps, Catalog: ps, Audit: stage,
	}})
	return &attack2Gateway{testGateway: gw, addr: gw.ListenerAddr("ext").String(), log: l, pki: pki}
}

// signedWith is a request signed by dept the way client/ signs: the declared agreement
// and purpose are sent as header fields and covered only when sent (RFC 9421 §2.5).
func (g *attack2Gateway) signedWith(t *testing.T, dept, method, target, body, agreement, purpose string, extra ...string) string {
	t.Helper()
	pair := g.pki.depts[dept]
	path, query, _ := strings.Cut(target, "?")
	hdr := map[string]string{"x-govgate-agreement": agreement, "x-govgate-purpose": purpose}
	msg := &crypto.Message{Method: method, Scheme: "https", Authority: g.addr, Path: path, Query: query, Header: func(name string) []string {
		if v := hdr[name]; v != "" {
			return []string{v}
		}
		return nil
	}}
	sh, err := crypto.SignRequest(crypto.NewSigner(pair.SignKey), fmt.Sprintf("%x", pair.SignCert.SerialNumber), msg, []byte(body), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{"Content-Digest: " + sh.ContentDigest, "Signature-Input: " + sh.SignatureInput, "Signature: " + sh.Signature}
	if agreement != "" {
		lines = append(lines, "X-Govgate-Agreement: "+agreement)
	}
	if purpose != "" {
		lines = append(lines, "X-Govgate-Purpose: "+purpose)
	}
	return rawRequest(method, target, g.addr, body, append(lines, extra...)...)
}

// TestAttack2SignedRecordFailsVerifyWhenPolicyChoosesAgreement: a department sends an
// ordinary signed request that names no agreement (its signature does not cover
// x-govgate-agreement — earlier, it covered it as the empty value — and the shipped policy
// then chooses the usable agreement). The gateway records agreement=AGR-T-0001 — "the
// agreement the exchange happened under" — next to a signature base that declares none,
// and audit.VerifyConsumerSignature (what `govgate audit verify` runs on every record)
// compares the two and reports the record as faulty.
//
// Impact (medium): every signed exchange under a policy-chosen agreement — the normal
// case for a client that does not name one — is a FAULT in `audit verify`, so a clean
// verify is impossible on a production log and real tampering drowns in false faults; an
// auditor also cannot tell from the record what the consumer actually signed for.
func TestAttack2SignedRecordFailsVerifyWhenPolicyChoosesAgreement(t *testing.T) {
	rp := startRawProvider(t, func([]byte) string {
		return rawResponse(200, []string{"Content-Type: application/json"}, taxpayerJSON)
	})
	g := startAttack2TLCP(t, rp.addr, 0)
	raw := g.signedWith(t, "110000-rensheju", "GET", "/tax/v1/taxpayers?id=1", "", "", "social-insurance-check")
	status, h, body := g.pki.send(t, g.addr, "110000-rensheju", raw)
	if status != 200 {
		t.Fatalf("signed request without an agreement: %d %s", status, body)
	}
	rec := recordOf(t, g.log, h.Get(HeaderReceipt))
	if rec.Signature == nil {
		t.Fatalf("signed exchange recorded without its signature: %+v", rec)
	}
	if err := audit.VerifyConsumerSignature(rec); err != nil {
		t.Errorf("the record of an ordinary signed exchange fails audit verification: %v (recorded agreement %q)", err, rec.Agreement)
	}
}

// TestAttack2AbsoluteFormSignatureRecordFailsVerify: a consumer sends its signed request
// in absolute form (GET https://gw/tax/v1/...; the gateway admits it when the authority is
// Host). The verifier takes @path from the raw request target, so the signature must
// cover "https://gw/tax/v1/taxpayers" as @path (an RFC 9421 signer, covering the path
// alone, is refused 401 signature_invalid); the gateway then forwards in origin form and
// records path "/tax/v1/taxpayers?id=1". The record's signed @path is not its path, and
// `govgate audit verify` reports it as a FAULT.
//
// Impact (medium): any department can plant, at will, records that make the audit log
// fail verification (the suite's own rule is that "a consumer cannot plant a record the
// auditor's verify stops at"); the recorded path is also not the target that arrived, and
// the refused exchange's record (absolute form) and the served one's (origin form) say
// different things for the same target.
func TestAttack2AbsoluteFormSignatureRecordFailsVerify(t *testing.T) {
	rp := startRawProvider(t, func([]byte) string {
		return rawResponse(200, []string{"Content-Type: application/json"}, taxpayerJSON)
	})
	g := startAttack2TLCP(t, rp.addr, 0)
	abs := "https://" + g.addr + "/tax/v1/taxpayers?id=1"
	// An RFC 9421 signer covers the target URI's path as @path: what the gateway verifies,
	// forwards and records.
	origin := g.signedWith(t, "110000-rensheju", "GET", "/tax/v1/taxpayers?id=1", "", "AGR-T-0001", "social-insurance-check")
	raw := strings.Replace(origin, "GET /tax/v1/taxpayers?id=1 ", "GET "+abs+" ", 1)
	status, h, body := g.pki.send(t, g.addr, "110000-rensheju", raw)
	if status != 200 {
		t.Fatalf("absolute-form request signed over its path: %d %s", status, body)
	}
	rec := recordOf(t, g.log, h.Get(HeaderReceipt))
	if err := audit.VerifyConsumerSignature(rec); err != nil {
		t.Errorf("a consumer planted a record that fails audit verification: %v", err)
	}
	// A signature over the whole URL as @path is not the RFC's @path: refused.
	raw = g.signedWith(t, "110000-rensheju", "GET", abs, "", "AGR-T-0001", "social-insurance-check")
	if status, _, body := g.pki.send(t, g.addr, "110000-rensheju", raw); status != 401 {
		t.Errorf("a signature over the absolute URL as @path: %d %s, want 401", status, body)
	}
}

// TestAttack2UnverifiedContentDigestRecorded: an unsigned request (the public tiles
// resource needs no signature) carries a Content-Digest the consumer made up. The
// gateway checks Content-Digest only for signed requests, yet writes the field into the
// audit record's content_digest and forwards it to the provider: the record asserts a
// digest of a request body that never crossed (here the digest of nothing, for a body
// "ab").
//
// Impact (low-medium): the audit record's content_digest is meant to identify the body
// that crossed (the architecture: "an audit record holds exactly the fields that were
// verified"); an auditor or a provider matching bodies by digest is told another body was
// sent. A consumer can make its own exchanges' records point at any body it likes.
func TestAttack2UnverifiedContentDigestRecorded(t *testing.T) {
	dir := t.TempDir()
	var l *audit.Log
	g, rp := startHostile(t, nil, withAuditLog(t, dir, &l))
	forged := crypto.ContentDigest([]byte("a body that was never sent"))
	resp, body := dialRaw(t, g.base).roundTrip(t, "POST /tiles/1 HTTP/1.1\r\nHost: gw\r\nX-Test-Dept: 110000-rensheju\r\n"+
		"Content-Digest: "+forged+"\r\nContent-Type: application/octet-stream\r\nContent-Length: 2\r\n\r\nab")
	if resp.StatusCode != 200 {
		t.Skipf("refused (%d %s): refusing an unverifiable Content-Digest would be a fix", resp.StatusCode, body)
	}
	rec := recordOf(t, l, resp.Header.Get(HeaderReceipt))
	if rec.ContentDigest != "" && rec.ContentDigest != crypto.ContentDigest([]byte("ab")) {
		t.Errorf("the record's content_digest is the consumer's unverified claim %q, not the digest of the body that crossed (%q)", rec.ContentDigest, crypto.ContentDigest([]byte("ab")))
	}
	if v := rawHeaderValues(rp.last(), "Content-Digest"); len(v) > 0 && v[0] == forged {
		t.Errorf("the provider received the consumer's false Content-Digest %q for body %q", v[0], "ab")
	}
}

// TestAttack2HeadRecordListsFieldsNotReleased: a HEAD on the filtered tax resource
// releases no field (no body crosses), yet its audit record lists fields
// [name tax_status taxpayer_id] — the same as a GET that released them. The same holds
// for any released response without those members (a provider's {} or a 404 body): the
// record's fields are the decision's, not what crossed.
//
// Impact (low): the audit record says personal fields crossed to a department when none
// did; an auditor counting disclosures of a taxpayer's data from the log over-counts, and
// cannot tell a probe from a disclosure.
func TestAttack2HeadRecordListsFieldsNotReleased(t *testing.T) {
	dir := t.TempDir()
	var l *audit.Log
	g, _ := startHostile(t, func(req []byte) string {
		if strings.HasPrefix(string(req), "HEAD ") {
			return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + itoa(len(taxpayerJSON)) + "\r\n\r\n"
		}
		if strings.Contains(string(req), "id=missing") {
			return rawResponse(404, []string{"Content-Type: application/json"}, `{"error":"no such taxpayer"}`)
		}
		return rawResponse(200, []string{"Content-Type: application/json"}, taxpayerJSON)
	}, withAuditLog(t, dir, &l))
	for _, c := range []struct{ method, target string }{{"HEAD", "/tax/v1/taxpayers?id=1"}, {"GET", "/tax/v1/taxpayers?id=missing"}} {
		status, h, body := do(t, c.method, g.base+c.target, "", rensheju)
		if status >= 500 || status == 403 {
			t.Fatalf("%s %s: %d %s", c.method, c.target, status, body)
		}
		rec := recordOf(t, l, h.Get(HeaderReceipt))
		if len(rec.Fields) > 0 {
			t.Errorf("%s %s: nothing released (body %q), but the record lists fields %v", c.method, c.target, body, rec.Fields)
		}
	}
}

// TestAttack2QuotaBurnedWhenProviderUnreachable: the agreement's quota is taken in Decide,
// before forwarding, and never given back, so exchanges the provider never received (502
// upstream_unreachable, 503 no_healthy_upstream or upstream_busy) use up the consumer's
// quota. Here AGR-T-0001 allows 2 requests a minute; two requests fail because the
// provider is down; when it is back, the department's first real request is 429
// quota_exceeded although no record of its data has crossed. The replay cache already
// follows the opposite rule ("refused requests cannot use up a department's share").
//
// Impact (low-medium, availability): a provider outage, or a pool emptied by passive
// ejection — which any other department can provoke with requests that time out —
// consumes a department's per_day quota, and with clients that retry it is locked out
// until 00:00 Beijing time; the audit log shows quota spent on exchanges that carried
// nothing.
func TestAttack2QuotaBurnedWhenProviderUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the provider is down: connections are refused
	g := startPolicyGateway(t, 2, nil, func(_ string, s *gatewaySetup) {
		s.provider = addr
		s.config = func(c *Config) { c.Pools[0].Passive.MaxFails = 100 }
	})
	for i := 0; i < 2; i++ {
		if status, _, body := do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", rensheju); status < 500 {
			t.Fatalf("provider down: %d %s", status, body)
		}
	}
	ln2, err := net.Listen("tcp", addr) // the provider is back
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	rp := &rawProvider{addr: addr, ln: ln2, answer: func([]byte) string {
		return rawResponse(200, []string{"Content-Type: application/json"}, taxpayerJSON)
	}}
	go rp.serve()
	t.Cleanup(func() { ln2.Close() })
	status, _, body := do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", rensheju)
	if status == 429 {
		t.Errorf("first request to reach a provider is refused %d %s: the quota was used by 2 exchanges the provider never received", status, body)
	}
}

// TestAttack2QueryParameterPollutionBypassesPolicy: a policy that reads the query (the
// contract: input.request.query holds the FIRST value of each parameter) restricts a
// consumer to district=haidian. The consumer sends
// ?district=haidian&district=chaoyang: the policy sees haidian and allows; the gateway
// forwards the raw query, and the provider receives both values. PHP ($_GET), Express
// (last of an array used as a string), ASP.NET ("haidian,chaoyang") and many hand-written
// parsers take the last or all values: the provider serves chaoyang's records under a
// decision that allowed haidian's, and the audit record shows an allowed exchange.
//
// Impact (medium-high for any deployment whose policy constrains query parameters — the
// one place a Rego policy can limit which records, not just which resource, a department
// reads): "only what a sharing agreement allows crosses" is decided on a different query
// than the provider executes. Fix direction: refuse a request that repeats a parameter
// the policy reads (or pass every value to the policy), as is done for repeated headers.
func TestAttack2QueryParameterPollutionBypassesPolicy(t *testing.T) {
	g, rp := startHostile(t, func(req []byte) string {
		// A last-wins provider (PHP, Express): the district it serves is the last one.
		line, _, _ := rawHead(req)
		district := line[strings.LastIndex(line, "district=")+len("district="):]
		district = strings.Fields(strings.SplitN(district, "&", 2)[0])[0]
		return rawResponse(200, []string{"Content-Type: application/json"}, `{"name":"`+district+`-taxpayer","tax_status":"正常","district":"`+district+`"}`)
	}, func(dir string, s *gatewaySetup) {
		policy := `package govgate.authz

deny contains reason("DISTRICT_NOT_COVERED", "rensheju may query Haidian taxpayers only") if {
	input.resource.id == "tax.registration"
	input.request.query
	not input.request.query.district == "haidian"
}
`
		if err := os.WriteFile(filepath.Join(dir, "authz", "district.rego"), []byte(policy), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	if status, _, body := do(t, "GET", g.base+"/tax/v1/taxpayers?district=chaoyang", "", rensheju); status != 403 {
		t.Fatalf("baseline: district=chaoyang is %d %s, want the policy's 403", status, body)
	}
	before := rp.count()
	status, _, body := do(t, "GET", g.base+"/tax/v1/taxpayers?district=haidian&district=chaoyang", "", rensheju)
	if rp.count() > before {
		line, _, _ := rawHead(rp.last())
		t.Errorf("the policy allowed district=haidian, the provider received %q and the consumer got %d %s", line, status, body)
	}
}

// TestAttack2AdminActionWithoutRecord: with the audit log unable to make records durable
// (disk full), data exchanges are refused 503 — "nothing leaves without its record" — but
// the admin API runs the action first and audits after, and when the record fails it only
// logs "admin action done but not recorded": POST /policy/reload makes new agreements live
// and /policy/eval answers, with no audit record of who did it.
//
// Impact (medium): a security officer (or anyone holding that certificate) changes the
// sharing policy while the log is failing — or while making it fail — and the change is
// live with no record; when the log recovers, exchanges run under a revision whose
// adoption the log never saw. 三员分立 rests on the auditor seeing every officer's action.
func TestAttack2AdminActionWithoutRecord(t *testing.T) {
	g := startPolicyGateway(t, 0, taxpayer, func(_ string, s *gatewaySetup) { s.auditor = &recordingAuditor{fail: true} })
	// Data exchanges are refused while records cannot be made durable.
	if status, _, body := do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", rensheju); status != 503 {
		t.Fatalf("data exchange with a failing audit log: %d %s", status, body)
	}
	before := g.stage.Engine.Revision().ID
	agreements := strings.Replace(testAgreements, "fields: [taxpayer_id, name, tax_status]", "fields: [taxpayer_id, name, tax_status, credit_rating]", 1)
	if err := os.WriteFile(filepath.Join(g.dir, "agreements.yaml"), []byte(strings.Replace(agreements, "QUOTA", "0", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	status, _, body := do(t, "POST", g.admin+"/policy/reload", "", nil)
	if after := g.stage.Engine.Revision().ID; after != before {
		t.Errorf("POST /policy/reload with no durable record: %d %s — revision %s is live instead of %s, and the log has no record of the change", status, body, after, before)
	}
	status, _, body = do(t, "POST", g.admin+"/policy/eval", `{"subject":{"dept":"110000-rensheju","signed":true},"resource":{"id":"tax.registration"},"request":{"method":"GET","purpose":"social-insurance-check"},"route":{"mode":"query","source_zone":"external","target_zone":"internal"},"time":"2026-12-01T00:00:00Z"}`, map[string]string{"Content-Type": "application/json"})
	if status == 200 {
		t.Errorf("POST /policy/eval answered with no durable record: %d %s", status, body)
	}
}

// TestAttack2ProviderDowngradesLabel: the catalog classifies tax.registration "internal"
// and labels each of its fields "internal". The provider's response says
// "X-Classification: public"; the gateway checks only that this label is not above the
// exchange's ceiling and then writes it as the label the consumer receives. The consumer
// gets taxpayer_id, name and tax_status — every one an internal field by the catalog —
// under the gateway's own "X-Classification: public".
//
// Impact (medium): the label the gateway asserts is what the consumer's systems use to
// decide where the data may go next (a public label may be published, or copied to the
// internet zone, whose ceiling is public). A misconfigured or hostile provider launders
// internal data into public through the gateway. The release should label the response
// no lower than the highest catalog label of the fields it releases (and the resource's
// classification).
func TestAttack2ProviderDowngradesLabel(t *testing.T) {
	g, _ := startHostile(t, func([]byte) string {
		return rawResponse(200, []string{"Content-Type: application/json", "X-Classification: public"}, taxpayerJSON)
	})
	status, h, body := do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", rensheju)
	if status != 200 || !strings.Contains(string(body), "tax_status") {
		t.Skipf("refused (%d %s): refusing a label below the catalog's would be a fix", status, body)
	}
	if got := h.Get(HeaderClassification); got != "internal" {
		t.Errorf("internal fields %s released under the gateway's X-Classification %q", body, got)
	}
}

// TestAttack2AdminRefusalsByServerNotAudited: the admin API audits every request its
// handler sees, but the admin listener's server has no ErrorHandler: a request it cannot
// read — a body over its 1 MiB limit on POST /policy/reload, a malformed Content-Length,
// headers too large — is answered by fasthttp itself and never reaches the audit stage.
// The data listeners audit these (handleReadError); the admin API, where "refusals are
// audited" is promised too, does not.
//
// Impact (low): probes and malformed attempts against the policy and audit endpoints —
// the most sensitive surface — leave no record; an auditor reviewing admin activity sees
// nothing of them.
func TestAttack2AdminRefusalsByServerNotAudited(t *testing.T) {
	g := startPolicyGateway(t, 0, taxpayer)
	count := func() int {
		g.audit.mu.Lock()
		defer g.audit.mu.Unlock()
		return len(g.audit.entries)
	}
	host := strings.TrimPrefix(g.admin, "http://")
	for name, raw := range map[string]string{
		"body over the limit": "POST /policy/reload HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n" + strings.Repeat(" ", 2000000),
		"bad Content-Length":  "POST /policy/reload HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nContent-Length: 1x\r\n\r\n{}",
	} {
		before := count()
		c := dialRaw(t, g.admin)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, raw)
		resp, err := http.ReadResponse(c.r, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		time.Sleep(50 * time.Millisecond)
		if resp.StatusCode >= 400 && count() == before {
			t.Errorf("%s: the admin API refused it %d and no audit record was made", name, resp.StatusCode)
		}
	}
}

// TestAttack2HeadRecordDigestOfBodyNotSent: the record's response_digest is "the hex SM3
// of the body sent" and bytes.response its length, but for a HEAD the gateway records the
// body it built and did not send: a refused HEAD records the digest and length of the
// JSON error, and a HEAD of the catalog records the whole catalog document (its digest
// and size), although the consumer received no body at all.
//
// Impact (low): the record claims bytes crossed that did not; an auditor reconciling the
// record's response_digest with what a consumer retained finds a digest of a document
// that consumer never had (the catalog of resources it may see).
func TestAttack2HeadRecordDigestOfBodyNotSent(t *testing.T) {
	dir := t.TempDir()
	var l *audit.Log
	g, _ := startHostile(t, nil, withAuditLog(t, dir, &l))
	empty := crypto.SM3(nil)
	for _, c := range []struct {
		name, target string
		header       map[string]string
	}{
		{"denied HEAD", "/tax/v1/taxpayers?id=1", with(rensheju, "X-Govgate-Purpose", "marketing")},
		{"catalog HEAD", CatalogPath, rensheju},
	} {
		status, h, body := do(t, "HEAD", g.base+c.target, "", c.header)
		if len(body) != 0 {
			t.Fatalf("%s: HEAD answered with a body", c.name)
		}
		rec := recordOf(t, l, h.Get(HeaderReceipt))
		if rec.Bytes.Response != 0 || rec.ResponseDigest != fmt.Sprintf("%x", empty[:]) {
			t.Errorf("%s: %d with no body sent, recorded response bytes %d and digest %s (not the empty body's)", c.name, status, rec.Bytes.Response, rec.ResponseDigest)
		}
	}
}

// TestAttack2MethodOverrideParameter: the gateway refuses X-HTTP-Method-Override and its
// kin, because "the policy decided on the request's own method", but not the method
// override PARAMETER that Rails (Rack::MethodOverride), Laravel and Symfony
// (http_method_override) read on a POST: a form field _method=DELETE in the body, or
// ?_method=DELETE in the query (Laravel, Symfony). The query mode allows POST ("a lookup
// by body: providers must treat it as a read"), so a department holding a query-only
// agreement POSTs _method=DELETE (or PUT/PATCH) and such a provider deletes or updates
// the taxpayer record; the decision and the audit record say POST, a read.
//
// Impact (high where the provider runs one of these frameworks, which is common in
// government line-of-business systems): a read-only agreement becomes a write; the policy's
// METHOD_NOT_ALLOWED for every mode is bypassed.
func TestAttack2MethodOverrideParameter(t *testing.T) {
	g, rp := startHostile(t, nil)
	for _, c := range []struct{ target, ctype, body string }{
		{"/tax/v1/taxpayers", "application/x-www-form-urlencoded", "_method=DELETE&id=1"},
		{"/tax/v1/taxpayers?_method=DELETE&id=1", "application/json", `{"id":"1"}`},
		{"/tax/v1/taxpayers", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nPUT\r\n--b--\r\n"},
	} {
		before := rp.count()
		status, _, body := do(t, "POST", g.base+c.target, c.body, with(rensheju, "Content-Type", c.ctype))
		if rp.count() > before && strings.Contains(string(rp.last()), "_method") {
			t.Errorf("POST %s (%s) %q: %d %s — the provider received a method override the policy never saw:\n%s", c.target, c.ctype, c.body, status, body, rp.last())
		}
	}
}

// TestAttack2IfUnmodifiedSinceOracle: after the ETag-oracle fix the provider's ETag and
// Last-Modified are withheld on a filtered resource and If-None-Match/If-Modified-Since
// are removed — but If-Match and If-Unmodified-Since "guard writes and pass", on every
// method. On a GET, RFC 9110 13.1.4 has the provider evaluate If-Unmodified-Since (Go's
// http.ServeContent, nginx, Spring's checkNotModified all do): 412 when the whole
// document changed after the date, 200 otherwise. The consumer binary-searches the date
// and learns the withheld Last-Modified to the second — and by polling, when any withheld
// field (bank_account, credit_rating) changes, exactly the 304/200 oracle the fix closed.
//
// Impact (low-medium): a side channel on withheld fields of every filtered resource whose
// provider honours preconditions on GET. Fix direction: on a filtered resource, remove
// If-Match and If-Unmodified-Since from safe methods too (they guard nothing on a read).
func TestAttack2IfUnmodifiedSinceOracle(t *testing.T) {
	lastMod := time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC) // when bank_account last changed
	g, _ := startHostile(t, func(req []byte) string {
		if v := rawHeaderValues(req, "If-Unmodified-Since"); len(v) == 1 {
			if since, err := http.ParseTime(v[0]); err == nil && lastMod.After(since) {
				return rawResponse(412, []string{"Content-Type: application/json"}, `{}`)
			}
		}
		return rawResponse(200, []string{"Content-Type: application/json", "Last-Modified: " + lastMod.Format(http.TimeFormat)}, taxpayerJSON)
	})
	status, h, _ := do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", rensheju)
	if status != 200 || h.Get("Last-Modified") != "" {
		t.Fatalf("baseline: %d, Last-Modified %q (the fix withholds it)", status, h.Get("Last-Modified"))
	}
	probe := func(at time.Time) int {
		status, _, _ := do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", with(rensheju, "If-Unmodified-Since", at.Format(http.TimeFormat)))
		return status
	}
	before, after := probe(lastMod.Add(-time.Second)), probe(lastMod)
	if before != after {
		t.Errorf("If-Unmodified-Since one second before the withheld Last-Modified answers %d, at it %d: the consumer reads the whole document's modification time", before, after)
	}
}
