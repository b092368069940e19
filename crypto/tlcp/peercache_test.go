package tlcp

import (
	"math/big"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/certs"
)

// A chain verified once is shared by later handshakes, and never outlives what made it
// valid: a new trust store (a CRL that revokes it), the end of a certificate's validity,
// or a different usage each verify again — and refuse.
func TestPeerCacheSharesAndExpires(t *testing.T) {
	p := newTestPKI(t)
	short, err := p.ca.IssuePair(certs.PairRequest{Dept: "110000-gongan", System: "short", ValidFor: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	raw := [][]byte{short.SignCert.Raw, short.EncCert.Raw}
	ts := p.trust.Load()
	pc := newPeerCache()
	now := time.Now()

	first, err := pc.verify(raw, ts, smx509.ExtKeyUsageClientAuth, now, "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := pc.verify(raw, ts, smx509.ExtKeyUsageClientAuth, now.Add(time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Error("the same chain against the same store was verified twice instead of shared")
	}
	if first.validUntil.After(p.ca.Cert.NotAfter) || first.validUntil.After(short.SignCert.NotAfter) {
		t.Errorf("cached until %v, past a certificate of the chain", first.validUntil)
	}

	// Past the CA's validity (1 h in newTestPKI), the entry is not used: verification runs
	// again and refuses.
	if _, err := pc.verify(raw, ts, smx509.ExtKeyUsageClientAuth, now.Add(90*time.Minute), ""); err == nil {
		t.Error("a chain was accepted after its CA expired, from the cache")
	}
	// Another usage is another verification: a client certificate is no server's.
	if _, err := pc.verify(raw, ts, smx509.ExtKeyUsageServerAuth, now, ""); err == nil {
		t.Error("a client certificate was accepted for server authentication")
	}

	// A CRL that revokes it arrives as a new trust store: refused at once.
	crl, err := p.ca.CRL(1, []*big.Int{short.SignCert.SerialNumber}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	revoking, err := NewTrustStore([]*smx509.Certificate{p.ca.Cert}, []*smx509.RevocationList{crl})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.verify(raw, revoking, smx509.ExtKeyUsageClientAuth, now, ""); err == nil {
		t.Error("a revoked certificate was accepted from the cache")
	}
	// A refusal is not remembered, and the old store's entries are gone.
	if _, err := pc.verify(raw, ts, smx509.ExtKeyUsageClientAuth, now, ""); err != nil {
		t.Fatalf("back on the first store: %v", err)
	}
	if third, _ := pc.verify(raw, ts, smx509.ExtKeyUsageClientAuth, now, ""); third == first {
		t.Error("an entry of a replaced store was kept")
	}
}

// Over real handshakes, a department's connections go through the listener's cache: two
// connections, one entry.
func TestListenerSharesPeerCertificates(t *testing.T) {
	p := newTestPKI(t)
	addr, _, ln := startServer(t, p)
	for i := range 2 {
		if _, err := get(t, addr, p.client, p.trust); err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
	}
	ln.peers.mu.Lock()
	n := len(ln.peers.entries)
	ln.peers.mu.Unlock()
	if n != 1 {
		t.Errorf("after two connections of one department the cache has %d entries, want 1", n)
	}
}
