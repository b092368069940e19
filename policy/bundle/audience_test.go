package bundle_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/policy/bundle"
	"github.com/govgate/govgate/policy/bundle/bundletest"
)

// TestBundleAudienceSwapRefused: two fleets trust the same officers' CA. A hostile bundle
// server of fleet A serves fleet B's newer, validly signed bundle: fleet A's gateway
// refuses it (the audience is covered by the signature) and keeps its revision.
func TestBundleAudienceSwapRefused(t *testing.T) {
	pki := bundletest.NewPKI(t, "officers root")
	officer := pki.Officer(t)
	srv := bundletest.NewServer(t)
	a := bundletest.Build(t, "fleet-a")
	srv.Publish(t, a, officer.SignFor(t, a, "fleet-a"))
	va, err := bundle.NewVerifier([]string{pki.CAFile}, "", "fleet-a")
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, srv.URL, va, time.Hour)
	live := g.engine.Revision().ID
	if s := g.poller.Status(live); s.Signer == nil || s.Signer.Audience != "fleet-a" {
		t.Fatalf("status names no audience: %+v", s.Signer)
	}

	b := bundletest.Build(t, "fleet-b")
	sigB := officer.SignFor(t, b, "fleet-b")
	srv.Publish(t, b, sigB)
	if changed, err := g.poller.Poll(t.Context()); err == nil || changed || !strings.Contains(err.Error(), `audience "fleet-b"`) {
		t.Fatalf("fleet B's bundle at fleet A: changed %v, err %v", changed, err)
	}
	if f, _ := g.poller.Files(); f.ID() != live {
		t.Fatal("fleet B's bundle became current at fleet A")
	}

	// The audience field rewritten to fleet A's: the signature no longer verifies.
	var m map[string]any
	if err := json.Unmarshal(sigB, &m); err != nil {
		t.Fatal(err)
	}
	m["audience"] = "fleet-a"
	forged, _ := json.Marshal(m)
	if _, err := va.Verify(b, forged, time.Now()); err == nil || !strings.Contains(err.Error(), "verif") {
		t.Fatalf("audience rewritten after signing: %v", err)
	}
	// No audience at all, and the v1 format (no audience): refused.
	delete(m, "audience")
	none, _ := json.Marshal(m)
	if _, err := va.Verify(b, none, time.Now()); err == nil || !strings.Contains(err.Error(), "audience") {
		t.Fatalf("no audience: %v", err)
	}
	m["format"], m["audience"] = bundle.SignatureFormatV1, "fleet-a"
	v1, _ := json.Marshal(m)
	if _, err := va.Verify(b, v1, time.Now()); err == nil || !strings.Contains(err.Error(), "re-sign") {
		t.Fatalf("a v1 signature: %v", err)
	}
	// A verifier without an audience is not made, and Sign refuses an empty or odd one.
	if _, err := bundle.NewVerifier([]string{pki.CAFile}, "", ""); err == nil {
		t.Fatal("a verifier without an audience")
	}
	for _, bad := range []string{"", "fleet a", "fleet\x00a", strings.Repeat("x", bundle.MaxAudience+1)} {
		if _, err := bundle.Sign(b, officer.Key, []*crypto.Certificate{officer.Cert}, bad, time.Now()); err == nil {
			t.Errorf("signed for audience %q", bad)
		}
	}
}
