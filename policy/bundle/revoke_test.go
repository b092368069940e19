package bundle_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/policy/bundle"
	"github.com/govgate/govgate/policy/bundle/bundletest"
)

// TestBundleCRLReadWhileRunning: an officer revoked after the gateway started (the CRL
// file rewritten in place) cannot make a new bundle live at the next poll; the live
// revision keeps serving and its status says its signer is revoked.
func TestBundleCRLReadWhileRunning(t *testing.T) {
	pki := bundletest.NewPKI(t, "officers root")
	officer := pki.Officer(t)
	crl := pki.WriteCRL(t) // nobody revoked yet
	srv := bundletest.NewServer(t)
	one := bundletest.Build(t, "one")
	srv.Publish(t, one, officer.Sign(t, one))
	g := startGateway(t, srv.URL, verifier(t, pki, crl), time.Hour)
	live := g.engine.Revision().ID
	if s := g.poller.Status(live); s.SignerRevoked {
		t.Fatal("signer revoked before the CRL says so")
	}

	pki.WriteCRL(t, officer.Cert.SerialNumber) // the officer leaves
	two := bundletest.Build(t, "two")
	srv.Publish(t, two, officer.Sign(t, two))
	if changed, err := g.poller.Poll(t.Context()); err == nil || changed || !strings.Contains(err.Error(), "is revoked") {
		t.Fatalf("bundle of a signer revoked while running: changed %v, err %v", changed, err)
	}
	files, err := g.poller.Files()
	if err != nil || files.ID() != live {
		t.Fatalf("the live revision changed: %v", err)
	}
	s := g.poller.Status(live)
	if !s.SignerRevoked || s.Signer == nil || s.Revision != "one" {
		t.Fatalf("status of the live revision after its signer's revocation: %+v", s)
	}

	// A CRL made unreadable while running: no new bundle goes live (fail closed).
	os.WriteFile(crl, []byte("not a CRL"), 0o644)
	other := pki.Officer(t)
	three := bundletest.Build(t, "three")
	srv.Publish(t, three, other.Sign(t, three))
	if changed, err := g.poller.Poll(t.Context()); err == nil || changed || !strings.Contains(err.Error(), "CRL") {
		t.Fatalf("poll with an unreadable CRL: changed %v, err %v", changed, err)
	}
	// Restored, the other officer's bundle goes live.
	pki.WriteCRL(t, officer.Cert.SerialNumber)
	if changed, err := g.poller.Poll(t.Context()); err != nil || !changed {
		t.Fatalf("poll after the CRL is readable again: changed %v, err %v", changed, err)
	}
}

// TestBundleSignFileChecksCertificate: signing refuses, with an error naming the cause, an
// expired or not yet valid certificate, one not for digital signatures, and a key that is
// not the certificate's.
func TestBundleSignFileChecksCertificate(t *testing.T) {
	pki := bundletest.NewPKI(t, "officers root")
	officer := pki.Officer(t)
	dir := t.TempDir()
	b := filepath.Join(dir, "bundle.tar.gz")
	if err := os.WriteFile(b, bundletest.Build(t, "one"), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyPEM := func(k *crypto.PrivateKey) []byte {
		out, err := crypto.MarshalPrivateKeyPEM(k, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	cert := write("officer.pem", crypto.MarshalCertificatePEM(officer.Cert), 0o644)
	key := write("officer.key", keyPEM(officer.Key), 0o600)
	pair, err := pki.CA.IssuePair(certsRequest("policy officer", bundle.SignerRole))
	if err != nil {
		t.Fatal(err)
	}
	encCert := write("enc.pem", crypto.MarshalCertificatePEM(pair.EncCert), 0o644)
	encKey := write("enc.key", keyPEM(pair.EncKey), 0o600)
	otherKey := write("other.key", keyPEM(pki.Officer(t).Key), 0o600)

	for _, c := range []struct {
		name, cert, key string
		now             time.Time
		want            string
	}{
		{"expired", cert, key, officer.Cert.NotAfter.Add(time.Minute), "expired"},
		{"not yet valid", cert, key, officer.Cert.NotBefore.Add(-time.Minute), "not valid before"},
		{"encryption certificate", encCert, encKey, time.Now(), "not for digital signatures"},
		{"another officer's key", cert, otherKey, time.Now(), "is not the key of certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(b + bundle.SignatureSuffix)
			_, err := signFile(b, c.cert, c.key, c.now)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("sign: %v, want an error with %q", err, c.want)
			}
			if _, err := os.Stat(b + bundle.SignatureSuffix); err == nil {
				t.Fatal("a signature was written")
			}
		})
	}
	if _, err := signFile(b, cert, key, time.Now()); err != nil {
		t.Fatalf("a valid officer: %v", err)
	}
}
