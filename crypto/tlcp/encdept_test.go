package tlcp

import (
	"strings"
	"testing"

	"github.com/govgate/govgate/certs"
)

// TestEncryptionCertificateOfAnotherDepartmentRefused: the department is named in the
// certificates' URI SAN, not in their subject (CN=<system>, C=CN), so two departments'
// systems of one name have the same subject. A client that pairs its own signing
// certificate with the encryption certificate of another department's system of the same
// name — its key included, so that ECDHE completes — is refused: the
// pair a handshake presents is one party's. An encryption certificate naming no
// department (a CA that writes none) still pairs with any signing certificate of its
// subject.
func TestEncryptionCertificateOfAnotherDepartmentRefused(t *testing.T) {
	p := newTestPKI(t)
	addr, _, _ := startServerSuites(t, p, nil)
	other, err := p.ca.IssuePair(certs.PairRequest{Dept: "110000-shuiwu", System: p.client.SignCert.Subject.CommonName})
	if err != nil {
		t.Fatal(err)
	}
	if string(other.EncCert.RawSubject) != string(p.client.SignCert.RawSubject) {
		t.Fatal("the fixture needs two departments' systems with one subject")
	}
	mixed := *p.client
	mixed.EncCert, mixed.EncKey = other.EncCert, other.EncKey
	for _, s := range []Suite{ECDHE_SM4_GCM_SM3, ECDHE_SM4_CBC_SM3} {
		if c, err := dialSuites(t, addr, &mixed, p.trust, []Suite{s}); err == nil {
			c.Close()
			t.Errorf("%s: a signing certificate of 110000-gongan with an encryption certificate of 110000-shuiwu was accepted", s)
		} else if !strings.Contains(err.Error(), "bad certificate") {
			t.Errorf("%s: %v, want a bad_certificate alert", s, err)
		}
	}
	// A client stack that sends its pair with the ECC suites too (govgate's sends the
	// signing certificate alone there) is held to the same rule.
	for _, s := range []Suite{ECC_SM4_GCM_SM3, ECC_SM4_CBC_SM3} {
		if c, err := rawListClient(t, addr, p, [][]byte{p.client.SignCert.Raw, other.EncCert.Raw}, p.client, s); err == nil {
			c.Close()
			t.Errorf("%s: a signing certificate of 110000-gongan with an encryption certificate of 110000-shuiwu was accepted", s)
		} else if !strings.Contains(err.Error(), "bad certificate") {
			t.Errorf("%s: %v, want a bad_certificate alert", s, err)
		}
	}

	noDept, err := p.ca.IssuePair(certs.PairRequest{System: p.client.SignCert.Subject.CommonName})
	if err != nil {
		t.Fatal(err)
	}
	plain := *p.client
	plain.EncCert, plain.EncKey = noDept.EncCert, noDept.EncKey
	c, err := dialSuites(t, addr, &plain, p.trust, []Suite{ECDHE_SM4_GCM_SM3})
	if err != nil {
		t.Fatalf("an encryption certificate naming no department: %v", err)
	}
	c.Close()
}
