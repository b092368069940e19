package tlcp

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// BenchmarkTLCPHandshake is full mutual-auth handshakes against the hardened listener,
// client and server in one process: halve ns/op's inverse for server-only cost per core.
func BenchmarkTLCPHandshake(b *testing.B) {
	p := newTestPKI(b)
	addr, _, _ := startServer(b, p)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := Dial(ctx, "tcp", addr, ClientConfig{Identity: p.client, Trust: p.trust, ServerName: "localhost", Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkTLCPKeepAliveRequest is requests on one kept-alive TLCP connection.
func BenchmarkTLCPKeepAliveRequest(b *testing.B) {
	p := newTestPKI(b)
	addr, _, _ := startServer(b, p)
	c, err := Dial(context.Background(), "tcp", addr, ClientConfig{Identity: p.client, Trust: p.trust, ServerName: "localhost", Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	benchKeepAlive(b, c)
}

// benchKeepAlive times b.N HTTP/1.1 requests in turn on the one connection c.
func benchKeepAlive(b *testing.B, c net.Conn) {
	r := bufio.NewReader(c)
	b.ResetTimer()
	for range b.N {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// FuzzListener throws bytes at a running TLCP listener: no input may take the server down,
// and a good client is served after every one.
func FuzzListener(f *testing.F) {
	p := newTestPKI(f)
	addr, _, _ := startServer(f, p)
	f.Add(clientHello(0x0101, []uint16{0xe011}, nil, nil))
	f.Add(clientHello(0x0101, []uint16{0xe051}, nil, nil))
	f.Add(clientHello(0x0101, []uint16{0xe053, 0xe013}, nil, nil))
	f.Add(clientHello(0x0101, []uint16{0xe013}, randomBytes(32), ticketExtension()))
	f.Add(clientHello(0x0301, []uint16{0x002f}, nil, nil))
	f.Add([]byte{0x16, 0x01, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, raw []byte) {
		sendRawQuick(t, addr, raw)
		if _, err := get(t, addr, p.client, p.trust); err != nil {
			t.Fatalf("after %x the server does not serve: %v", raw, err)
		}
	})
}
