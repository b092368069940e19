package gateway_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"

	"github.com/dunglas/httpsfv"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/crypto"
)

// legacySigned is a request signed the way clients did before declarations were covered
// only when sent: all seven components, an absent declaration covered as the empty value.
func (g *attack2Gateway) legacySigned(t *testing.T, dept, method, target, agreement, purpose string) string {
	t.Helper()
	pair := g.pki.depts[dept]
	path, query, _ := strings.Cut(target, "?")
	digest := crypto.ContentDigest(nil)
	hdr := map[string]string{"x-govgate-agreement": agreement, "x-govgate-purpose": purpose, "content-digest": digest}
	msg := &crypto.Message{Method: method, Scheme: "https", Authority: g.addr, Path: path, Query: query,
		Header: func(name string) []string { return []string{hdr[name]} }}
	items := make([]httpsfv.Item, len(crypto.CoveredComponents))
	for i, c := range crypto.CoveredComponents {
		items[i] = httpsfv.NewItem(c)
	}
	params := httpsfv.NewParams()
	params.Add("created", time.Now().Unix())
	params.Add("nonce", fmt.Sprintf("legacy-%d", time.Now().UnixNano()))
	params.Add("keyid", fmt.Sprintf("%x", pair.SignCert.SerialNumber))
	params.Add("alg", crypto.SignatureAlgorithm)
	il := httpsfv.InnerList{Items: items, Params: params}
	base, err := crypto.SignatureBase(msg, il)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := crypto.NewSigner(pair.SignKey).Sign([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	d := httpsfv.NewDictionary()
	d.Add(crypto.SignatureLabel, il)
	input, _ := httpsfv.Marshal(d)
	lines := []string{"Content-Digest: " + digest, "Signature-Input: " + input, "Signature: " + crypto.SignatureLabel + "=:" + base64.StdEncoding.EncodeToString(sig) + ":"}
	if agreement != "" {
		lines = append(lines, "X-Govgate-Agreement: "+agreement)
	}
	if purpose != "" {
		lines = append(lines, "X-Govgate-Purpose: "+purpose)
	}
	return rawRequest(method, target, g.addr, "", lines...)
}

// TestSignedDeclarationsRFC9421: over real TLCP, a signature that covers only the
// declarations the request carries is served and its record verifies; the earlier form
// (absent declarations covered as empty) is still accepted from old clients and its record
// verifies; a declaration carried but not covered is refused 401
// signature_component_uncovered and not forwarded.
func TestSignedDeclarationsRFC9421(t *testing.T) {
	rp := startRawProvider(t, func([]byte) string {
		return rawResponse(200, []string{"Content-Type: application/json"}, taxpayerJSON)
	})
	g := startAttack2TLCP(t, rp.addr, 0)
	const d = "110000-rensheju"
	served := func(name, raw string, wantCovered bool) {
		t.Helper()
		status, h, body := g.pki.send(t, g.addr, d, raw)
		if status != 200 {
			t.Fatalf("%s: %d %s", name, status, body)
		}
		rec := recordOf(t, g.log, h.Get(HeaderReceipt))
		if rec.Signature == nil {
			t.Fatalf("%s: recorded without its signature", name)
		}
		if got := strings.Contains(rec.Signature.Input, `"x-govgate-agreement"`); got != wantCovered {
			t.Errorf("%s: Signature-Input %s covers the agreement: %v", name, rec.Signature.Input, got)
		}
		if err := audit.VerifyConsumerSignature(rec); err != nil {
			t.Errorf("%s: record fails audit verification: %v (agreement %q)", name, err, rec.Agreement)
		}
	}
	served("new form, no agreement", g.signedWith(t, d, "GET", "/tax/v1/taxpayers?id=1", "", "", "social-insurance-check"), false)
	served("new form, agreement", g.signedWith(t, d, "GET", "/tax/v1/taxpayers?id=1", "", "AGR-T-0001", "social-insurance-check"), true)
	served("old form, no agreement", g.legacySigned(t, d, "GET", "/tax/v1/taxpayers?id=1", "", "social-insurance-check"), true)
	served("old form, agreement", g.legacySigned(t, d, "GET", "/tax/v1/taxpayers?id=1", "AGR-T-0001", "social-insurance-check"), true)

	before := routed(rp)
	for _, c := range []struct{ name, raw string }{
		{"agreement added", g.signedWith(t, d, "GET", "/tax/v1/taxpayers?id=1", "", "", "social-insurance-check", "X-Govgate-Agreement: AGR-T-0001")},
		{"purpose added", g.signedWith(t, d, "GET", "/tax/v1/taxpayers?id=1", "", "AGR-T-0001", "", "X-Govgate-Purpose: anything")},
		{"empty purpose added", g.signedWith(t, d, "GET", "/tax/v1/taxpayers?id=1", "", "AGR-T-0001", "", "X-Govgate-Purpose: ")},
	} {
		status, h, body := g.pki.send(t, g.addr, d, c.raw)
		if status != 401 || errorCode(t, body) != crypto.SigUncovered {
			t.Errorf("%s: %d %s, want 401 %s", c.name, status, body, crypto.SigUncovered)
		}
		if rec := recordOf(t, g.log, h.Get(HeaderReceipt)); rec.Error != crypto.SigUncovered {
			t.Errorf("%s: recorded error %q", c.name, rec.Error)
		}
	}
	if n := routed(rp); n != before {
		t.Errorf("%d refused requests reached the provider", n-before)
	}
}
