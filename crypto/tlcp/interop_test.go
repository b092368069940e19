package tlcp

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fork of gmtls (internal/gmtls) swaps the record layer's SM4-CBC and HMAC-SM3 for
// emmansun's and fixes tjfoc's key-exchange length checks; on the wire it must still be
// what tjfoc's gmtls speaks. A tjfoc client talks to our listener and our client to a
// tjfoc server, several requests on one connection each, so that sequence numbers, MACs
// and CBC state carry from record to record.
func TestInteropWithUpstreamGmtls(t *testing.T) {
	p := newTestPKI(t)

	addr, _, _ := startServer(t, p)
	c := dialTJFoc(t, p, addr)
	defer c.Close()
	if got := keepAliveGets(t, c, 3); got != strings.Repeat("hello "+p.client.SignCert.Subject.CommonName, 3) {
		t.Errorf("tjfoc client → govgate server: %q", got)
	}

	taddr := startTJFocServer(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ours, err := Dial(ctx, "tcp", taddr, ClientConfig{Identity: p.client, Trust: p.trust, ServerName: "localhost", Logger: quietLogger()})
	if err != nil {
		t.Fatalf("govgate client → tjfoc server: %v", err)
	}
	defer ours.Close()
	if got := keepAliveGets(t, ours, 3); got != "okokok" {
		t.Errorf("govgate client → tjfoc server: %q", got)
	}
}

// keepAliveGets sends n GETs on c, one after the other, and returns the bodies joined.
func keepAliveGets(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var out strings.Builder
	for i := range n {
		_, body := roundTrip(t, c, br, i+1, []byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"))
		out.Write(body)
	}
	return out.String()
}

// roundTrip writes the n-th request on c and reads its answer, which must be a 200.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, n int, req []byte) (*http.Response, []byte) {
	t.Helper()
	if _, err := c.Write(req); err != nil {
		t.Fatalf("request %d: %v", n, err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("response %d: %v", n, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("response %d: %d %v", n, resp.StatusCode, err)
	}
	return resp, body
}

// A response goes out as one TLCP record, not as tjfoc's 1-byte record and the rest (the
// TLS 1.0 CBC countermeasure, which TLCP's explicit IVs make needless): half the MACs,
// encryptions and socket writes.
func TestResponseIsOneRecord(t *testing.T) {
	p := newTestPKI(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingListener{Listener: inner, written: make(chan []byte, 1)}
	ids := &IdentitySource{}
	if err := ids.Store(p.server); err != nil {
		t.Fatal(err)
	}
	ln, err := NewListener(rec, ServerConfig{Identity: ids, Trust: p.trust, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}()
	if got, err := get(t, inner.Addr().String(), p.client, p.trust); err != nil || got != "ok" {
		t.Fatalf("request: %q %v", got, err)
	}
	var appData int
	for b := <-rec.written; len(b) >= 5; {
		n := 5 + (int(b[3])<<8 | int(b[4]))
		if n > len(b) {
			break
		}
		if b[0] == 23 { // application data
			appData++
		}
		b = b[n:]
	}
	if appData != 1 {
		t.Errorf("the response went out as %d application-data records, want 1", appData)
	}
}

// recordingListener hands back, when its one connection closes, every byte the server
// wrote to it.
type recordingListener struct {
	net.Listener
	written chan []byte
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: c, done: l.written}, nil
}

type recordingConn struct {
	net.Conn
	buf  []byte
	done chan []byte
	once sync.Once
}

func (c *recordingConn) Write(b []byte) (int, error) {
	c.buf = append(c.buf, b...)
	return c.Conn.Write(b)
}

func (c *recordingConn) Close() error {
	c.once.Do(func() { c.done <- c.buf })
	return c.Conn.Close()
}

// After the handshake the connection keeps only crypto/tlcp's verified certificates:
// gmtls's own parse is released (it was ~5 KB a connection), and requests go on.
func TestHandshakeStateReleased(t *testing.T) {
	p := newTestPKI(t)
	addr, _, _ := startServer(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, "tcp", addr, ClientConfig{Identity: p.client, Trust: p.trust, ServerName: "localhost", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Peer() == nil || c.Peer().Sign == nil {
		t.Fatal("no verified peer certificates after the handshake")
	}
	if n := len(c.tls.ConnectionState().PeerCertificates); n != 0 {
		t.Errorf("gmtls still holds %d parsed peer certificates", n)
	}
	if got := keepAliveGets(t, c, 2); got != strings.Repeat("hello "+p.client.SignCert.Subject.CommonName, 2) {
		t.Errorf("requests after the release: %q", got)
	}
}
