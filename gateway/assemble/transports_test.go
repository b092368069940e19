package assemble

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/wire"
)

// ecPKI is a P-256 CA for the standard-TLS listener, with its files in dir.
type ecPKI struct {
	dir  string
	ca   *x509.Certificate
	key  *ecdsa.PrivateKey
	next int64
}

func newECPKI(t *testing.T) *ecPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ec root"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &ecPKI{dir: t.TempDir(), ca: ca, key: key, next: 1}
	p.write(t, "ca.pem", "CERTIFICATE", der, 0o644)
	p.crl(t)
	return p
}

func (p *ecPKI) write(t *testing.T, name, typ string, der []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	// Written aside and renamed, as an administrator replaces a file: a watcher never
	// reads half of it.
	if err := os.WriteFile(path+".new", pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	return path
}

// crl writes crl.pem revoking serials, with a modification time after the last one's.
func (p *ecPKI) crl(t *testing.T, serials ...*big.Int) string {
	t.Helper()
	rl := &x509.RevocationList{Number: big.NewInt(p.next), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}
	for _, s := range serials {
		rl.RevokedCertificateEntries = append(rl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, rl, p.ca, p.key)
	if err != nil {
		t.Fatal(err)
	}
	path := p.write(t, "crl.pem", "X509 CRL", der, 0o644)
	later := time.Now().Add(time.Duration(len(serials)) * time.Minute)
	os.Chtimes(path, later, later)
	return path
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
		u, _ := url.Parse(gateway.DeptURIPrefix + dept)
		tmpl.URIs = []*url.URL{u}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

// TestBuildTLCPAndTLSTogether: with a tlcp and a tls listener, both transports are
// plugged in (neither replaces the other) and both listeners serve under one
// authenticate stage, which holds open tls connections to the CRL in force: a department
// revoked while its keep-alive connection is open is refused on it (401
// certificate_revoked) once the watcher has loaded the new CRL, with no restart.
func TestBuildTLCPAndTLSTogether(t *testing.T) {
	p := newTestPKI(t)
	ec := newECPKI(t)
	srv, _ := ec.issue(t, "gw-assemble", "", true)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(srv.PrivateKey)
	provider := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(enterpriseRecord)
	}}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go provider.Serve(pln)
	defer provider.Shutdown()
	cfg := exampleConfig(t, p, freeAddr(t), freeAddr(t), pln.Addr().String())
	tlsAddr := freeAddr(t)
	cfg.Listeners = append(cfg.Listeners, gateway.Listener{Name: "tls", Address: tlsAddr, Zone: gateway.ZoneExternal, Transport: gateway.TransportTLS})
	cfg.TLS = gateway.TLSConfig{
		Cert: ec.write(t, "gw.pem", "CERTIFICATE", srv.Certificate[0], 0o644), Key: ec.write(t, "gw.key", "PRIVATE KEY", keyDER, 0o600),
		ClientCA: filepath.Join(ec.dir, "ca.pem"), ClientCRL: filepath.Join(ec.dir, "crl.pem"),
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
	dept, deptCert := ec.issue(t, "tax-sync", "110000-shuiwu", false)
	roots := x509.NewCertPool()
	roots.AddCert(ec.ca)
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
	ec.crl(t, deptCert.SerialNumber)
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
