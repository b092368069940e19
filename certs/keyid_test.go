package certs

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/crypto"
)

// runOpenSSL runs the OpenSSL 3 command line, an implementation written by other people.
func runOpenSSL(t *testing.T, dir string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl not on PATH: %v", err)
	}
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// opensslKeyIDs returns the SKI and AKI OpenSSL prints for a certificate, as lowercase hex
// without colons ("" when absent).
func opensslKeyIDs(t *testing.T, dir string, c *smx509.Certificate) (ski, aki string) {
	t.Helper()
	os.WriteFile(filepath.Join(dir, "c.pem"), crypto.MarshalCertificatePEM(c), 0o644)
	out := runOpenSSL(t, dir, "x509", "-noout", "-in", "c.pem", "-ext", "subjectKeyIdentifier,authorityKeyIdentifier")
	var cur *string
	for _, line := range strings.Split(out, "\n") {
		switch l := strings.TrimSpace(line); {
		case strings.HasPrefix(l, "X509v3 Subject Key Identifier"):
			cur = &ski
		case strings.HasPrefix(l, "X509v3 Authority Key Identifier"):
			cur = &aki
		case cur != nil && l != "":
			*cur = strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(l, "keyid:"), ":", ""))
			cur = nil
		}
	}
	return ski, aki
}

// opensslSM3OfPublicKey is SM3 of the subjectPublicKey BIT STRING's value, all computed by
// OpenSSL: it exports the key, and the last 65 bytes of an SM2 SubjectPublicKeyInfo are
// that value (04||X||Y).
func opensslSM3OfPublicKey(t *testing.T, dir string, c *smx509.Certificate) string {
	t.Helper()
	os.WriteFile(filepath.Join(dir, "c.pem"), crypto.MarshalCertificatePEM(c), 0o644)
	runOpenSSL(t, dir, "x509", "-noout", "-in", "c.pem", "-pubkey", "-out", "pub.pem")
	runOpenSSL(t, dir, "pkey", "-pubin", "-in", "pub.pem", "-outform", "DER", "-out", "pub.der")
	der, _ := os.ReadFile(filepath.Join(dir, "pub.der"))
	if len(der) < 65 || der[len(der)-65] != 0x04 {
		t.Fatalf("openssl's SubjectPublicKeyInfo does not end in an uncompressed point: %x", der)
	}
	os.WriteFile(filepath.Join(dir, "point"), der[len(der)-65:], 0o644)
	return strings.Fields(runOpenSSL(t, dir, "dgst", "-sm3", "-r", "point"))[0]
}

// TestKeyIdentifiers: every certificate the CA makes — root, intermediate, signing and
// encryption certificates under each — has a SubjectKeyIdentifier that is SM3 of its
// public key, and every non-root an AuthorityKeyIdentifier equal to its issuer's SKI. The
// values are read by OpenSSL and the SM3 recomputed by OpenSSL.
func TestKeyIdentifiers(t *testing.T) {
	dir := t.TempDir()
	root, err := NewRootCA("Root", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := NewIntermediateCA(root, "Inter", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := root.IssuePair(PairRequest{Dept: "110000-x", System: "s"})
	if err != nil {
		t.Fatal(err)
	}
	viaInter, err := inter.IssuePair(PairRequest{System: "gw", Server: true, DNSNames: []string{"gw.example.gov.cn"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ cert, issuer *smx509.Certificate }{
		"root":               {root.Cert, nil},
		"intermediate":       {inter.Cert, root.Cert},
		"sign, by the root":  {direct.SignCert, root.Cert},
		"enc, by the root":   {direct.EncCert, root.Cert},
		"sign, by the inter": {viaInter.SignCert, inter.Cert},
		"enc, by the inter":  {viaInter.EncCert, inter.Cert},
	} {
		ski, aki := opensslKeyIDs(t, dir, c.cert)
		if want := opensslSM3OfPublicKey(t, dir, c.cert); ski != want {
			t.Errorf("%s: SKI %q, want SM3 of the public key %s", name, ski, want)
		}
		if !bytes.Equal(c.cert.SubjectKeyId, mustDecodeHex(t, ski)) {
			t.Errorf("%s: openssl reads SKI %s, Go %x", name, ski, c.cert.SubjectKeyId)
		}
		if c.issuer == nil {
			continue
		}
		if aki == "" || aki != hex.EncodeToString(c.issuer.SubjectKeyId) {
			t.Errorf("%s: AKI %q, want the issuer's SKI %x", name, aki, c.issuer.SubjectKeyId)
		}
	}
}

// TestAuthorityKeyIDOfOlderCA: under a CA whose SKI is not ours (SHA-1, as smx509 wrote for
// CAs made before), the AKI is that SKI, byte for byte — what path builders match.
func TestAuthorityKeyIDOfOlderCA(t *testing.T) {
	root, err := NewRootCA("Root", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	old := *root.Cert
	old.SubjectKeyId = bytes.Repeat([]byte{0xa5}, 20)
	p, err := (&CA{Cert: &old, Key: root.Key}).IssuePair(PairRequest{System: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.SignCert.AuthorityKeyId, old.SubjectKeyId) {
		t.Errorf("AKI %x, want the issuer's SKI %x", p.SignCert.AuthorityKeyId, old.SubjectKeyId)
	}
	old.SubjectKeyId = nil // an issuer without an SKI: the AKI is its key's identifier
	p, err = (&CA{Cert: &old, Key: root.Key}).IssuePair(PairRequest{System: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := KeyID(&root.Key.PublicKey); !bytes.Equal(p.SignCert.AuthorityKeyId, want) {
		t.Errorf("AKI %x, want %x", p.SignCert.AuthorityKeyId, want)
	}
}

func mustDecodeHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}
