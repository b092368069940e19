package assemble

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/internal/testpki"
	"github.com/govgate/govgate/wire"
)

// TestBuildTLCPAndTLSTogether: with a tlcp and a tls listener, both transports are
// plugged in (neither replaces the other) and both listeners serve under one
// authenticate stage, which holds open tls connections to the CRL in force: a department
// revoked while its keep-alive connection is open is refused on it (401
// certificate_revoked) once the watcher has loaded the new CRL, with no restart.
func TestBuildTLCPAndTLSTogether(t *testing.T) {
	p := newTestPKI(t)
	ec := testpki.NewEC(t)
	ec.CRL(t)
	srv, _ := ec.Issue(t, "gw-assemble", "", true)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(srv.PrivateKey)
	pln := startProvider(t)
	cfg := exampleConfig(t, p, freeAddr(t), freeAddr(t), pln.Addr().String())
	tlsAddr := freeAddr(t)
	cfg.Listeners = append(cfg.Listeners, gateway.Listener{Name: "tls", Address: tlsAddr, Zone: gateway.ZoneExternal, Transport: gateway.TransportTLS})
	cfg.TLS = gateway.TLSConfig{
		Cert: ec.Write(t, "gw.pem", "CERTIFICATE", srv.Certificate[0], 0o644), Key: ec.Write(t, "gw.key", "PRIVATE KEY", keyDER, 0o600),
		ClientCA: filepath.Join(ec.Dir, "ca.pem"), ClientCRL: filepath.Join(ec.Dir, "crl.pem"),
	}
	cfg.Keys.PollInterval = 20 * time.Millisecond
	a, err := Build(t.Context(), cfg, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.Gateway.Shutdown(ctx)
		a.Close()
	}()
	if err := a.Gateway.Start(); err != nil {
		t.Fatal(err)
	}
	dept, deptCert := ec.Issue(t, "tax-sync", "110000-shuiwu", false)
	roots := x509.NewCertPool()
	roots.AddCert(ec.CA)
	conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{dept}, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	get := func() (*http.Response, string) {
		t.Helper()
		req := "GET /enterprise/v1/companies/1 HTTP/1.1\r\nHost: localhost\r\n" + wire.HeaderAgreement + ": AGR-2025-0219\r\n" + wire.HeaderPurpose + ": tax-registration\r\n\r\n"
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		bufio.NewReader(resp.Body).WriteTo(&b)
		return resp, b.String()
	}
	if resp, body := get(); resp.StatusCode != 200 || !strings.Contains(body, "北京数联科技有限公司") {
		t.Fatalf("tls listener: %d %s", resp.StatusCode, body)
	}
	// The tlcp listener is bound too (Start refuses a listener whose transport is missing).
	tc, err := net.DialTimeout("tcp", cfg.Listeners[0].Address, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tc.Close()
	ec.CRL(t, deptCert.SerialNumber)
	waitFor(t, "the open tls connection refused after the CRL reload", func() bool {
		resp, body := get()
		if resp.StatusCode == 200 {
			return false
		}
		if resp.StatusCode != 401 || !strings.Contains(body, "certificate_revoked") {
			t.Fatalf("revoked department on its open connection: %d %s", resp.StatusCode, body)
		}
		return true
	})
}
