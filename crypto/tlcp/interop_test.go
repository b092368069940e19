package tlcp

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
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
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("response %d: %d %v", i+1, resp.StatusCode, err)
		}
		out.Write(body)
	}
	return out.String()
}
