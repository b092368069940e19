package assemble

import (
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/policy/bundle/bundletest"
)

// TestBundleSignerRevokedWhileRunning: the officer of the live revision is revoked in the
// CRL file while the gateway runs. Their next bundle is refused at the next poll, the live
// revision keeps serving, and /policy and the metric say its signer is revoked; another
// officer's bundle then goes live and the flag clears. A bundle signed for another fleet
// is refused on the way.
func TestBundleSignerRevokedWhileRunning(t *testing.T) {
	pki := bundletest.NewPKI(t, "officers root")
	officer, other := pki.Officer(t), pki.Officer(t)
	crl := pki.WriteCRL(t)
	srv := bundletest.NewServer(t)
	one := bundletest.Build(t, "one")
	srv.Publish(t, one, officer.Sign(t, one))
	p := newTestPKI(t)
	listen, admin := freeAddr(t), freeAddr(t)
	cfg := exampleConfig(t, p, listen, admin, startProvider(t).Addr().String())
	cfg.Policy.Bundle = &gateway.PolicyBundle{URL: srv.URL, PollInterval: time.Second, SignersCA: []string{pki.CAFile},
		CRL: crl, PersistDir: t.TempDir(), Audience: bundletest.Audience}
	startBuilt(t, cfg, quiet)
	first := getPolicy(t, admin)
	if first.Bundle.SignerRevoked || first.Bundle.Signer.Audience != bundletest.Audience {
		t.Fatalf("/policy at start: %+v %+v", first.Bundle, first.Bundle.Signer)
	}

	// Another fleet's bundle, validly signed by a trusted officer: refused.
	b := bundletest.Build(t, "fleet-b")
	srv.Publish(t, b, other.SignFor(t, b, "fleet-b"))
	waitFor(t, "the audience refusal", func() bool { return strings.Contains(getPolicy(t, admin).Bundle.LastError, "audience") })

	pki.WriteCRL(t, officer.Cert.SerialNumber)
	two := bundletest.Build(t, "two")
	srv.Publish(t, two, officer.Sign(t, two))
	waitFor(t, "the revocation refusal", func() bool { return strings.Contains(getPolicy(t, admin).Bundle.LastError, "is revoked") })
	v := getPolicy(t, admin)
	if v.Revision != first.Revision || v.Bundle.Revision != "one" || !v.Bundle.SignerRevoked {
		t.Fatalf("/policy after the signer's revocation: %s %+v", v.Revision, v.Bundle)
	}
	if status, body, err := fasthttp.Get(nil, "http://"+admin+"/metrics"); err != nil || status != 200 ||
		!strings.Contains(string(body), "govgate_policy_bundle_signer_revoked 1") {
		t.Fatalf("/metrics after the signer's revocation: %v %d", err, status)
	}

	three := bundletest.Build(t, "three")
	srv.Publish(t, three, other.Sign(t, three))
	waitFor(t, "bundle three", func() bool { return getPolicy(t, admin).Bundle.Revision == "three" })
	if v := getPolicy(t, admin); v.Bundle.SignerRevoked {
		t.Fatalf("/policy on another officer's bundle: %+v", v.Bundle)
	}
}
