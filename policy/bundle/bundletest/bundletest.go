// Package bundletest makes, for tests, the SM2 certificates that sign policy bundles (a
// security officer's, an auditor's, one from a CA nobody trusts), a real bundle server on
// loopback, and signed bundles of the shipped policy.
package bundletest

import (
	"encoding/pem"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/policy"
	"github.com/govgate/govgate/policy/bundle"
	shipped "github.com/govgate/govgate/rego"
)

// PKI is a trusted SM2 root with its CA file written, and signers under it.
type PKI struct {
	Dir    string
	CA     *certs.CA
	CAFile string
	crl    int64
}

// Signer is one certificate that can sign bundles.
type Signer struct {
	Cert *smx509.Certificate
	Key  *crypto.PrivateKey
}

// NewPKI makes a root CA valid for a day and writes Dir/signers-ca.pem.
func NewPKI(t testing.TB, name string) *PKI {
	t.Helper()
	ca, err := certs.NewRootCA(name, "govgate test", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "signers-ca.pem")
	if err := os.WriteFile(f, crypto.MarshalCertificatePEM(ca.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	return &PKI{Dir: dir, CA: ca, CAFile: f}
}

// Issue makes a signing certificate for cn carrying roles (urn:govgate:role:<role>) and
// dept (urn:govgate:dept:<dept>, when set).
func (p *PKI) Issue(t testing.TB, cn, dept string, roles ...string) *Signer {
	t.Helper()
	pair, err := p.CA.IssuePair(certs.PairRequest{System: cn, Dept: dept, Roles: roles, ValidFor: 12 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return &Signer{Cert: pair.SignCert, Key: pair.SignKey}
}

// Officer is a security officer of department sec.
func (p *PKI) Officer(t testing.TB) *Signer {
	return p.Issue(t, "policy officer", "sec", bundle.SignerRole)
}

// WriteCRL writes Dir/crl.pem revoking serials and returns its path.
func (p *PKI) WriteCRL(t testing.TB, serials ...*big.Int) string {
	t.Helper()
	p.crl++
	rl, err := p.CA.CRL(p.crl, serials, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(p.Dir, "crl.pem")
	if err := os.WriteFile(f, pemBlock("X509 CRL", rl.Raw), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// Audience is the fleet name tests' gateways and signatures use (policy.bundle.audience).
const Audience = "test-fleet"

// Sign signs a bundle with s for Audience.
func (s *Signer) Sign(t testing.TB, b []byte) []byte {
	t.Helper()
	return s.SignFor(t, b, Audience)
}

// SignFor signs a bundle with s for audience.
func (s *Signer) SignFor(t testing.TB, b []byte, audience string) []byte {
	t.Helper()
	sig, err := bundle.Sign(b, s.Key, []*crypto.Certificate{s.Cert}, audience, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// Files is the shipped policy, with marker appended as a comment to the authz module when
// set, so that each marker makes another revision.
func Files(t testing.TB, marker string) *policy.Files {
	t.Helper()
	f, err := policy.ReadFiles(shipped.FS())
	if err != nil {
		t.Fatal(err)
	}
	if marker != "" {
		for p, m := range f.Modules {
			if strings.HasSuffix(p, "authz.rego") {
				f.Modules[p] = append(append([]byte{}, m...), "\n# revision "+marker+"\n"...)
			}
		}
	}
	return f
}

// Build builds the shipped policy (with marker) into a bundle of manifest revision marker.
func Build(t testing.TB, marker string) []byte {
	t.Helper()
	b, err := bundle.Build(Files(t, marker), marker)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Server is a bundle server on loopback serving Dir.
type Server struct {
	Dir string
	URL string // of the bundle, Dir/bundle.tar.gz
	*httptest.Server
}

// NewServer starts a bundle server on 127.0.0.1 and closes it at the test's end.
func NewServer(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir()
	hs := httptest.NewServer(&bundle.Server{Dir: dir})
	t.Cleanup(hs.Close)
	return &Server{Dir: dir, URL: hs.URL + "/bundle.tar.gz", Server: hs}
}

// Publish writes a bundle and its signature (nil: none) as the server's bundle.
func (s *Server) Publish(t testing.TB, b, sig []byte) {
	t.Helper()
	if sig == nil {
		os.Remove(filepath.Join(s.Dir, "bundle.tar.gz"+bundle.SignatureSuffix))
		if err := os.WriteFile(filepath.Join(s.Dir, "bundle.tar.gz"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := bundle.Publish(s.Dir, "bundle.tar.gz", b, sig); err != nil {
		t.Fatal(err)
	}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
