package loadtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govgate/govgate/internal/testpki"
	"github.com/valyala/fasthttp"
)

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// quietLogger drops the server's log of the handshakes a refusing test makes fail.
type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// tlsServer is a real fasthttp server terminating TLS on 127.0.0.1 with a P-256
// certificate for localhost; it returns the https URL, the roots that trust it, the
// server's request count and its listener.
func tlsServer(t *testing.T) (string, *x509.CertPool, *atomic.Int64, *countingListener) {
	t.Helper()
	pki := testpki.NewEC(t)
	cert, _ := pki.Issue(t, "localhost", "", true)
	roots := x509.NewCertPool()
	roots.AddCert(pki.CA)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	tlsLn := tls.NewListener(cl, &tls.Config{Certificates: []tls.Certificate{cert}})
	var hits atomic.Int64
	srv := &fasthttp.Server{Logger: quietLogger{}, Handler: func(ctx *fasthttp.RequestCtx) {
		hits.Add(1)
		if !ctx.IsTLS() {
			ctx.SetStatusCode(fasthttp.StatusBadRequest)
			return
		}
		ctx.SetBodyString("ok")
	}}
	go srv.Serve(tlsLn)
	t.Cleanup(func() { srv.Shutdown() })
	return "https://" + ln.Addr().String() + "/x", roots, &hits, cl
}

// TestHTTPTargetOverTLSKeepsConnectionsAlive: an https target speaks TLS with the given
// configuration and sends every request of a run over its conns connections, not one
// connection (and one handshake) per request.
func TestHTTPTargetOverTLSKeepsConnectionsAlive(t *testing.T) {
	url, roots, hits, ln := tlsServer(t)
	tg, err := NewHTTPTarget(Request{URL: url}, &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}, 4, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), tg, Options{Conns: 4, Requests: 400, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 400 || hits.Load() != 400 || len(r.Errors) != 0 {
		t.Fatalf("ok %d, server saw %d, errors %v", r.OK, hits.Load(), r.Errors)
	}
	if n := ln.accepted.Load(); n < 1 || n > 4 {
		t.Fatalf("400 requests over 4 workers opened %d connections, want 1 to 4", n)
	}
}

// TestHTTPTargetOverTLSRefuses: https without a TLS configuration is refused before the
// run, and a server the configuration does not trust gets no request at all.
func TestHTTPTargetOverTLSRefuses(t *testing.T) {
	url, _, hits, _ := tlsServer(t)
	if _, err := NewHTTPTarget(Request{URL: url}, nil, 1, time.Second); err == nil {
		t.Fatal("an https target without a TLS configuration was accepted")
	}
	tg, err := NewHTTPTarget(Request{URL: url}, &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "localhost"}, 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), tg, Options{Conns: 2, Requests: 10, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 0 || r.Errors["connection"] != 10 || hits.Load() != 0 {
		t.Fatalf("untrusted server: ok %d errors %v, server saw %d requests", r.OK, r.Errors, hits.Load())
	}
}
