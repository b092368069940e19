package certs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tjx509 "github.com/tjfoc/gmsm/x509"

	"github.com/govgate/govgate/crypto"
)

// TestIssuedCertificatesInteroperate: OpenSSL 3 verifies what the CA issues, and tjfoc's
// x509 (what other Go TLCP code uses) parses it.
//
// OpenSSL 3.0 checks an SM2 certificate signature with the GB/T default user ID only when
// told (-vfyopt distid:1234567812345678), and only for the certificate being verified, not
// for intermediates above it. So each link of a chain is verified on its own: the
// intermediate by the root, and the leaf by the intermediate as a trusted partial chain.
func TestIssuedCertificatesInteroperate(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl not on PATH: %v", err)
	}
	dir := t.TempDir()
	root, err := InitDir(filepath.Join(dir, "root"), "Root", "govgate", 24*time.Hour, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := InitDir(filepath.Join(dir, "inter"), "Inter", "govgate", 24*time.Hour, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rootPEM := write("root.pem", crypto.MarshalCertificatePEM(root.CA.Cert))
	interPEM := write("inter.pem", crypto.MarshalCertificatePEM(inter.CA.Cert))
	direct, err := root.Issue(PairRequest{Dept: "110000-x", System: "s"})
	if err != nil {
		t.Fatal(err)
	}
	viaInter, err := inter.Issue(PairRequest{Dept: "110000-y", System: "t", Server: true, DNSNames: []string{"gw.example.gov.cn"}})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(ca, leaf string) string {
		out, err := exec.Command("openssl", "verify", "-partial_chain", "-vfyopt", "distid:1234567812345678", "-CAfile", ca, leaf).CombinedOutput()
		if err != nil {
			return string(out) + err.Error()
		}
		return string(out)
	}
	for name, c := range map[string]struct {
		ca   string
		leaf []byte
	}{
		"sign, by the root":              {rootPEM, crypto.MarshalCertificatePEM(direct.SignCert)},
		"enc, by the root":               {rootPEM, crypto.MarshalCertificatePEM(direct.EncCert)},
		"sign, by the intermediate":      {interPEM, crypto.MarshalCertificatePEM(viaInter.SignCert)},
		"intermediate, by the root only": {rootPEM, crypto.MarshalCertificatePEM(inter.CA.Cert)},
	} {
		if out := verify(c.ca, write("leaf.pem", c.leaf)); !strings.Contains(out, ": OK") {
			t.Errorf("%s: openssl verify: %s", name, out)
		}
	}
	// A certificate from another CA is refused.
	other, _ := NewRootCA("Other", "x", time.Hour)
	stranger, _ := other.IssuePair(PairRequest{System: "s"})
	if out := verify(rootPEM, write("stranger.pem", crypto.MarshalCertificatePEM(stranger.SignCert))); strings.Contains(out, ": OK") {
		t.Errorf("openssl verified a certificate of another CA: %s", out)
	}
	for _, c := range []*struct{ raw []byte }{{direct.SignCert.Raw}, {direct.EncCert.Raw}, {viaInter.SignCert.Raw}, {inter.CA.Cert.Raw}} {
		parsed, err := tjx509.ParseCertificate(c.raw)
		if err != nil {
			t.Fatalf("tjfoc cannot parse an issued certificate: %v", err)
		}
		if parsed.SerialNumber.Sign() <= 0 || parsed.KeyUsage == 0 {
			t.Errorf("tjfoc parsed serial %v, key usage %v", parsed.SerialNumber, parsed.KeyUsage)
		}
	}
}
