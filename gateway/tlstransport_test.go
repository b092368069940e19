package gateway_test

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/govgate/govgate/certs"
	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/identity"
	"github.com/govgate/govgate/internal/testpki"
)

// TestMutualTLSListener: a tls listener authenticates standard client certificates with
// the same identity profile; no certificate, another CA's, a revoked one and an SM2
// signature attempt are refused.
func TestMutualTLSListener(t *testing.T) {
	p := testpki.NewEC(t)
	tr, gw, _, _ := startTLSGateway(t, p, nil)
	url := "https://localhost:" + portOf(gw.ListenerAddr("ext").String()) + "/population/v1/persons"
	roots := x509.NewCertPool()
	roots.AddCert(p.CA)
	clientWith := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	dept, deptCert := p.Issue(t, "pension-review", "110000-rensheju", false)
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
	other := testpki.NewEC(t)
	stranger, _ := other.Issue(t, "s", "110000-x", false)
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
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: deptCert.SerialNumber, RevocationTime: time.Now()}}}, p.CA, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	p.Write(t, "crl.pem", "X509 CRL", crl, 0o644) // over the empty one the transport loaded
	if err := tr.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := clientWith(dept).Get(url); err == nil {
		t.Error("a revoked certificate was accepted")
	}
	// A key others can read is refused, and the running configuration stays.
	os.Chmod(filepath.Join(p.Dir, "gw.key"), 0o644)
	if err := tr.Reload(); err == nil {
		t.Error("a world-readable key was loaded")
	}
	fresh, _ := p.Issue(t, "other-system", "110000-shuiwu", false)
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
// before it starts. It returns the transport (whose files — ca.pem, crl.pem in p.Dir — a
// test may replace and Reload),
// the gateway, the upstream and the auditor.
func startTLSGateway(t *testing.T, p *testpki.EC, tune func(*identity.PeerAuthenticator, *certs.TLSTransport)) (*certs.TLSTransport, *testGateway, *upstream, *recordingAuditor) {
	t.Helper()
	srv, _ := p.Issue(t, "gw-test", "", true)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(srv.PrivateKey)
	files := certs.TLSFiles{
		Cert: p.Write(t, "gw.pem", "CERTIFICATE", srv.Certificate[0], 0o644), Key: p.Write(t, "gw.key", "PRIVATE KEY", keyDER, 0o600),
		ClientCA:  []string{filepath.Join(p.Dir, "ca.pem")},
		ClientCRL: []string{p.CRL(t)},
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
