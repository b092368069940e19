package tlcp

import (
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/tjfoc/gmsm/gmtls"
	tjx509 "github.com/tjfoc/gmsm/x509"

	"github.com/govgate/govgate/crypto"
)

// The same handshake and requests with tjfoc's gmtls as it comes — its own SM2 for the
// private-key operations and its own chain verification — measured in the same run as
// BenchmarkTLCPHandshake and BenchmarkTLCPKeepAliveRequest, as their baseline.

func tjfocPair(b testing.TB, id *Identity) []gmtls.Certificate {
	b.Helper()
	var out []gmtls.Certificate
	for _, c := range []struct {
		cert []byte
		key  *crypto.PrivateKey
	}{{id.SignCert.Raw, id.SignKey}, {id.EncCert.Raw, id.EncKey}} {
		keyPEM, err := crypto.MarshalPrivateKeyPEM(c.key, nil)
		if err != nil {
			b.Fatal(err)
		}
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert})
		pair, err := gmtls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			b.Fatalf("tjfoc cannot load the pair: %v", err)
		}
		out = append(out, pair)
	}
	return out
}

func tjfocPool(b testing.TB, p *testPKI) *tjx509.CertPool {
	b.Helper()
	pool := tjx509.NewCertPool()
	ca, err := tjx509.ParseCertificate(p.ca.Cert.Raw)
	if err != nil {
		b.Fatal(err)
	}
	pool.AddCert(ca)
	return pool
}

func startTJFocServer(b testing.TB, p *testPKI) string {
	b.Helper()
	cfg := &gmtls.Config{
		GMSupport:    &gmtls.GMSupport{},
		Certificates: tjfocPair(b, p.server),
		ClientAuth:   gmtls.RequireAndVerifyClientCert,
		ClientCAs:    tjfocPool(b, p),
		CipherSuites: []uint16{gmtls.GMTLS_SM2_WITH_SM4_SM3},
	}
	ln, err := gmtls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }), ErrorLog: nil}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func dialTJFoc(b testing.TB, p *testPKI, addr string) net.Conn {
	b.Helper()
	c, err := gmtls.Dial("tcp", addr, &gmtls.Config{
		GMSupport: &gmtls.GMSupport{},
		// tjfoc's client at its defaults: it offers ECDHE_SM4_CBC_SM3 too, whose "ECDHE"
		// is plain ECDH, not GB/T 38636's SM2 key exchange; govgate's default order puts
		// ECC_SM4_CBC_SM3 before it so that such a client still connects unchanged.
		Certificates: tjfocPair(b, p.client),
		RootCAs:      tjfocPool(b, p),
		ServerName:   "localhost",
	})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkTJFocHandshake(b *testing.B) {
	p := newTestPKI(b)
	addr := startTJFocServer(b, p)
	b.ResetTimer()
	for range b.N {
		dialTJFoc(b, p, addr).Close()
	}
}

func BenchmarkTJFocKeepAliveRequest(b *testing.B) {
	p := newTestPKI(b)
	addr := startTJFocServer(b, p)
	c := dialTJFoc(b, p, addr)
	defer c.Close()
	benchKeepAlive(b, c)
}
