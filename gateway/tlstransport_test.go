package gateway_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/govgate/govgate/certs"
	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/identity"
)

// ecPKI is a standard (ECDSA) CA for tls listeners, with the govgate identity profile.
type ecPKI struct {
	dir  string
	ca   *x509.Certificate
	key  *ecdsa.PrivateKey
	next int64
}

func newECPKI(t *testing.T) *ecPKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ec root"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &ecPKI{dir: t.TempDir(), ca: ca, key: key, next: 100}
	p.write(t, "ca.pem", "CERTIFICATE", der, 0o644)
	return p
}

func (p *ecPKI) write(t *testing.T, name, typ string, der []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// emptyCRL writes crl.pem, a CRL of p's CA revoking nothing, and returns its path: the
// transport's CRL file, which a test replaces and reloads.
func (p *ecPKI) emptyCRL(t *testing.T) string {
	t.Helper()
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}, p.ca, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, "crl.pem", "X509 CRL", crl, 0o644)
}

func (p *ecPKI) issue(t *testing.T, cn, dept string, server bool) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.next++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.next), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage, tmpl.DNSNames = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []string{"localhost"}
	}
	if dept != "" {
		u, _ := url.Parse(DeptURIPrefix + dept)
		tmpl.URIs = []*url.URL{u}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, c
}

// TestMutualTLSListener: a tls listener authenticates standard client certificates with
// the same identity profile; no certificate, another CA's, a revoked one and an SM2
// signature attempt are refused.
func TestMutualTLSListener(t *testing.T) {
	p := newECPKI(t)
	tr, gw, _, _ := startTLSGateway(t, p, nil)
	url := "https://localhost:" + portOf(gw.ListenerAddr("ext").String()) + "/population/v1/persons"
	roots := x509.NewCertPool()
	roots.AddCert(p.ca)
	clientWith := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	dept, deptCert := p.issue(t, "pension-review", "110000-rensheju", false)
	resp, err := clientWith(dept).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	var e echo
	decodeJSON(t, resp, &e)
	if resp.StatusCode != 200 || e.Headers["x-govgate-consumer-dept"] != "110000-rensheju" || e.Headers["x-govgate-consumer-system"] != "pension-review" || e.Headers["x-forwarded-proto"] != "https" {
		t.Fatalf("%d %v", resp.StatusCode, e.Headers)
	}
	// Refused: no certificate; another CA's certificate.
	if _, err := clientWith().Get(url); err == nil {
		t.Error("a client without a certificate was served")
	}
	other := newECPKI(t)
	stranger, _ := other.issue(t, "s", "110000-x", false)
	if _, err := clientWith(stranger).Get(url); err == nil {
		t.Error("another CA's certificate was accepted")
	}
	// A signed request on a tls listener is refused: SM2 signatures need TLCP.
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Signature-Input", `govgate=("@method");keyid="1"`)
	req.Header.Set("Signature", "govgate=:AAAA:")
	if resp, err := clientWith(dept).Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("signed request on tls: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	// Revoked at the next handshake after a reload.
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: deptCert.SerialNumber, RevocationTime: time.Now()}}}, p.ca, p.key)
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, "crl.pem", "X509 CRL", crl, 0o644) // over the empty one the transport loaded
	if err := tr.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := clientWith(dept).Get(url); err == nil {
		t.Error("a revoked certificate was accepted")
	}
	// A key others can read is refused, and the running configuration stays.
	os.Chmod(filepath.Join(p.dir, "gw.key"), 0o644)
	if err := tr.Reload(); err == nil {
		t.Error("a world-readable key was loaded")
	}
	fresh, _ := p.issue(t, "other-system", "110000-shuiwu", false)
	if resp, err := clientWith(fresh).Get(url); err != nil || resp.StatusCode != 200 {
		t.Errorf("after a refused reload: %v %v", err, resp)
	}
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func decodeJSON(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// startTLSGateway runs a gateway with one tls listener whose server certificate and
// client CA come from p, in front of an echo upstream; tune may change the authenticator
// before it starts. It returns the transport (whose files — ca.pem, crl.pem in p.dir — a
// test may replace and Reload),
// the gateway, the upstream and the auditor.
func startTLSGateway(t *testing.T, p *ecPKI, tune func(*identity.PeerAuthenticator, *certs.TLSTransport)) (*certs.TLSTransport, *testGateway, *upstream, *recordingAuditor) {
	t.Helper()
	srv, _ := p.issue(t, "gw-test", "", true)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(srv.PrivateKey)
	files := certs.TLSFiles{
		Cert: p.write(t, "gw.pem", "CERTIFICATE", srv.Certificate[0], 0o644), Key: p.write(t, "gw.key", "PRIVATE KEY", keyDER, 0o600),
		ClientCA:  []string{filepath.Join(p.dir, "ca.pem")},
		ClientCRL: []string{p.emptyCRL(t)},
	}
	tr, err := certs.NewTLSTransport(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	up := startUpstream(t, nil)
	cfg := testConfig(up.addr)
	cfg.Listeners[0].Transport = TransportTLS
	cfg.TLS = TLSConfig{Cert: "x", Key: "x", ClientCA: "x"}
	cfg.ApplyDefaults()
	auth := identity.NewPeerAuthenticator(0, 1000)
	if tune != nil {
		tune(auth, tr)
	}
	rec := &recordingAuditor{}
	gw := startGateway(t, cfg, Options{Stages: Stages{
		Authenticate: auth, Audit: rec,
		Transports: map[Transport]ListenerProvider{TransportTLS: tr},
	}})
	return tr, gw, up, rec
}
