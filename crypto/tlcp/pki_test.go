package tlcp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/certs"
)

// testPKI is a CA with a server pair for localhost and a department client pair.
type testPKI struct {
	ca     *certs.CA
	server *Identity
	client *Identity
	trust  *TrustSource
}

func identity(p *certs.Pair, chain ...*smx509.Certificate) *Identity {
	return &Identity{SignCert: p.SignCert, SignKey: p.SignKey, EncCert: p.EncCert, EncKey: p.EncKey, Chain: chain}
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	ca, err := certs.NewRootCA("govgate test root", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.IssuePair(certs.PairRequest{System: "gw-test", DNSNames: []string{"localhost"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.IssuePair(certs.PairRequest{Dept: "110000-gongan", System: "hukou-sync"})
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{ca: ca, server: identity(srv), client: identity(cli), trust: &TrustSource{}}
	ts, err := NewTrustStore([]*smx509.Certificate{ca.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.trust.Store(ts)
	return p
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startServer serves HTTP over TLCP with fasthttp and answers with the client's CN.
func startServer(t testing.TB, p *testPKI) (addr string, ids *IdentitySource, ln *Listener) {
	t.Helper()
	return startServerSuites(t, p, nil)
}

// startServerSuites is startServer accepting the given suites (nil: the default). A
// request with a body is answered with the body; every answer names the negotiated suite
// in X-Suite.
func startServerSuites(t testing.TB, p *testPKI, suites []Suite) (addr string, ids *IdentitySource, ln *Listener) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ids = &IdentitySource{}
	if err := ids.Store(p.server); err != nil {
		t.Fatal(err)
	}
	ln, err = NewListener(inner, ServerConfig{Identity: ids, Trust: p.trust, HandshakeTimeout: 2 * time.Second, Logger: quietLogger(), Suites: suites})
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		c, ok := ctx.Conn().(*Conn)
		if !ok || c.Peer() == nil {
			ctx.Error("no peer", 500)
			return
		}
		ctx.Response.Header.Set("X-Suite", c.Suite().String())
		if body := ctx.PostBody(); len(body) > 0 {
			ctx.Write(body)
			return
		}
		fmt.Fprintf(ctx, "hello %s", c.Peer().Sign.Subject.CommonName)
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return inner.Addr().String(), ids, ln
}

// get dials with id and sends one GET over TLCP.
func get(t testing.TB, addr string, id *Identity, trust *TrustSource) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, "tcp", addr, ClientConfig{Identity: id, Trust: trust, ServerName: "localhost", Logger: quietLogger()})
	if err != nil {
		return "", err
	}
	return request(c)
}

// dialUnchecked sends one GET with an identity the client would refuse to use itself,
// offering suites (none: the default).
func dialUnchecked(t testing.TB, addr string, id *Identity, trust *TrustSource, suites ...Suite) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dial(ctx, "tcp", addr, ClientConfig{Identity: id, Trust: trust, ServerName: "localhost", Logger: quietLogger(), Suites: suites})
	if err != nil {
		return "", err
	}
	return request(c)
}

func helloWithoutCertificate(t testing.TB, addr string) error {
	trust := &TrustSource{}
	_, err := dialUnchecked(t, addr, nil, trust)
	return err
}

func request(c *Conn) (string, error) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", errors.New(string(body))
	}
	return string(body), nil
}

func serial(c *smx509.Certificate) *big.Int { return c.SerialNumber }
