package certs

import (
	"crypto/x509"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// opensslCRLDates returns the Last Update (thisUpdate), Next Update and every Revocation
// Date OpenSSL reads from a PEM CRL.
func opensslCRLDates(t *testing.T, dir string, pemCRL []byte) (this, next time.Time, revoked []time.Time) {
	t.Helper()
	os.WriteFile(filepath.Join(dir, "crl.pem"), pemCRL, 0o644)
	out := runOpenSSL(t, dir, "crl", "-in", "crl.pem", "-noout", "-text")
	parse := func(v string) time.Time {
		tm, err := time.Parse("Jan _2 15:04:05 2006 MST", strings.TrimSpace(v))
		if err != nil {
			t.Fatalf("openssl date %q: %v", v, err)
		}
		return tm
	}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		switch {
		case !ok:
		case k == "Last Update":
			this = parse(v)
		case k == "Next Update":
			next = parse(v)
		case k == "Revocation Date":
			revoked = append(revoked, parse(v))
		}
	}
	if this.IsZero() || next.IsZero() {
		t.Fatalf("openssl crl -text gave no dates:\n%s", out)
	}
	return this, next, revoked
}

// TestCRLThisUpdateNotBeforeRevocations: a CRL issued right after a revocation has a
// thisUpdate no earlier than that revocation date and a nextUpdate after it, as OpenSSL
// reads them; an older revocation leaves the usual backdated thisUpdate.
func TestCRLThisUpdateNotBeforeRevocations(t *testing.T) {
	tmp := t.TempDir()
	d, err := InitDir(filepath.Join(tmp, "ca"), "CA", "govgate", 24*time.Hour, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Issue(PairRequest{Dept: "110000-x", System: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Revoke(p.SignCert.SerialNumber.Text(16), "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	pemCRL, crl, err := d.CRL(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	this, next, revoked := opensslCRLDates(t, tmp, pemCRL)
	if len(revoked) != 1 {
		t.Fatalf("openssl reads %d revoked entries, want 1", len(revoked))
	}
	if this.Before(revoked[0]) {
		t.Errorf("thisUpdate %s is before the revocation date %s", this, revoked[0])
	}
	if !next.After(this) {
		t.Errorf("nextUpdate %s is not after thisUpdate %s", next, this)
	}
	if !crl.ThisUpdate.Equal(this) || !crl.NextUpdate.Equal(next) {
		t.Errorf("Go reads %s/%s, openssl %s/%s", crl.ThisUpdate, crl.NextUpdate, this, next)
	}

	// CA.CRL dates its entries now: the same holds.
	fresh, err := d.CA.CRL(2, []*big.Int{big.NewInt(7)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if e := fresh.RevokedCertificateEntries[0]; fresh.ThisUpdate.Before(e.RevocationTime) {
		t.Errorf("CA.CRL: thisUpdate %s before revocation %s", fresh.ThisUpdate, e.RevocationTime)
	}

	// A revocation an hour old: thisUpdate keeps its minute of backdating.
	old := time.Now().Add(-time.Hour)
	crl, err = d.CA.CRLEntries(3, []x509.RevocationListEntry{{SerialNumber: big.NewInt(9), RevocationTime: old}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if lag := time.Since(crl.ThisUpdate); lag < crlBackdate-time.Second || lag > crlBackdate+time.Minute {
		t.Errorf("thisUpdate %s ago, want about %s", lag, crlBackdate)
	}
}

// TestCRLRefusesBadDates: a revocation dated in the future (a clock gone back) and a
// validity that would put nextUpdate at or before thisUpdate are refused.
func TestCRLRefusesBadDates(t *testing.T) {
	ca, err := NewRootCA("CA", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	future := []x509.RevocationListEntry{{SerialNumber: big.NewInt(1), RevocationTime: time.Now().Add(time.Hour)}}
	if _, err := ca.CRLEntries(1, future, time.Hour); err == nil || !strings.Contains(err.Error(), "after now") {
		t.Errorf("a revocation in the future: %v", err)
	}
	for _, v := range []time.Duration{0, -time.Hour} {
		if _, err := ca.CRLEntries(1, nil, v); err == nil {
			t.Errorf("validity %v was accepted", v)
		}
	}
}
