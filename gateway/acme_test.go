package gateway_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/identity"
	"github.com/govgate/govgate/internal/testpki"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"github.com/govgate/govgate/certs"
)

// startPebble runs Let's Encrypt's test ACME server in this process; its validator checks
// tls-alpn-01 challenges on 127.0.0.1:tlsPort. It returns the directory URL, the roots that
// verify the directory, and the CA whose roots verify what it issues.
func startPebble(t *testing.T, tlsPort int) (string, *x509.CertPool, *ca.CAImpl) {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	logger := log.New(io.Discard, "", 0)
	store := db.NewMemoryStore()
	// Certificates valid for 20 s, so that renewal (in the second half of their life, see
	// the test) comes within the test with time to spare before expiry.
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "govgate test profile", ValidityPeriod: 20}})
	validator := va.New(logger, 0, tlsPort, false, "", store)
	front := wfe.New(logger, store, validator, authority, nil, false, false, 0, 0)
	srv := httptest.NewTLSServer(front.Handler())
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return srv.URL + wfe.DirectoryPath, roots, authority
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestACMECertificateFromPebble: a tls listener's certificate is obtained from an ACME CA
// (Pebble, in process) with the tls-alpn-01 challenge answered on the listener itself,
// served to mutual-TLS clients, and renewed.
func TestACMECertificateFromPebble(t *testing.T) {
	port := freePort(t)
	dirURL, acmeRoots, authority := startPebble(t, port)
	acme, err := certs.NewACME(certs.ACMEOptions{
		DirectoryURL: dirURL, Email: "ops@example.gov.cn", StorageDir: t.TempDir(), Profile: "default",
		Domains: []string{"localhost"}, TrustedRoots: acmeRoots, TLSALPNPort: port, RenewCheckInterval: 500 * time.Millisecond,
		RenewalWindowRatio: 0.5, DisableARI: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(acme.Stop)
	clients := testpki.NewEC(t)
	tr, err := certs.NewTLSTransport(certs.TLSFiles{ClientCA: []string{filepath.Join(clients.Dir, "ca.pem")}}, acme, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	up := startUpstream(t, nil)
	cfg := testConfig(up.addr)
	cfg.Listeners[0].Transport = TransportTLS
	cfg.Listeners[0].Address = "127.0.0.1:" + strconv.Itoa(port)
	cfg.TLS = TLSConfig{Cert: "acme", Key: "acme", ClientCA: "x"}
	cfg.ApplyDefaults()
	startGateway(t, cfg, Options{Stages: Stages{
		Authenticate: identity.NewPeerAuthenticator(0, 1000),
		Transports:   map[Transport]ListenerProvider{TransportTLS: tr},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := acme.Manage(ctx); err != nil {
		t.Fatalf("no certificate from Pebble: %v", err)
	}

	issued := x509.NewCertPool()
	for i := range authority.GetNumberOfRootCerts() {
		issued.AddCert(authority.GetRootCert(i).Cert)
	}
	dept, _ := clients.Issue(t, "pension-review", "110000-rensheju", false)
	served := func() string {
		t.Helper()
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: issued, Certificates: []tls.Certificate{dept}}}}
		resp, err := c.Get("https://localhost:" + strconv.Itoa(port) + "/population/v1/persons")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber.Text(16)
	}
	first := served()
	listed := tr.Certificates(time.Now())
	if len(listed) != 2 || listed[0].Role != "tls-server" || listed[0].Serial != first {
		t.Errorf("GET /certs would list %+v", listed)
	}
	deadline := time.Now().Add(40 * time.Second)
	for served() == first {
		if time.Now().After(deadline) {
			t.Fatal("the certificate was not renewed before it expired")
		}
		time.Sleep(500 * time.Millisecond)
	}
}
