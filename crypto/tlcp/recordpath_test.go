package tlcp

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govgate/govgate/internal/race"
)

// startEcho serves one TLCP connection that echoes what it reads, from a buffer of its
// own: nothing outside the record layer allocates.
func startEcho(t *testing.T, p *testPKI, suites []Suite) (addr string, ln *Listener) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ids := &IdentitySource{}
	if err := ids.Store(p.server); err != nil {
		t.Fatal(err)
	}
	ln, err = NewListener(inner, ServerConfig{Identity: ids, Trust: p.trust, HandshakeTimeout: 2 * time.Second, Logger: quietLogger(), Suites: suites})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return inner.Addr().String(), ln
}

func dialEcho(t *testing.T, p *testPKI, addr string, s Suite) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), "tcp", addr, ClientConfig{Identity: p.client, Trust: p.trust, ServerName: "localhost", Logger: quietLogger(), Suites: []Suite{s}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRecordPathAllocatesNothing: once a connection is up, a request and its answer —
// a record each way on both ends, sealed, framed, written, read and opened — allocate
// nothing, for every suite. A block, nonce, additional data or record buffer made per
// record fails here.
func TestRecordPathAllocatesNothing(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector (sync.Pool drops items at random)")
	}
	p := newTestPKI(t)
	addr, _ := startEcho(t, p, nil)
	msg := bytes.Repeat([]byte("q"), 1000)
	got := make([]byte, len(msg))
	for _, s := range allSuites {
		c := dialEcho(t, p, addr, s)
		exchange := func() {
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
		}
		for range 20 {
			exchange()
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("%s: echo differs", s)
		}
		if a := testing.AllocsPerRun(200, exchange); a > 0 {
			t.Errorf("%s: %.1f allocations per echoed record pair; want 0", s, a)
		}
	}
}

// countingListener counts the writes of the connections it accepts.
type countingListener struct {
	net.Listener
	writes chan *countingConn
}

type countingConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) { c.n.Add(1); return c.Conn.Write(b) }

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: c}
	l.writes <- cc
	return cc, nil
}

// TestOneWritePerCall: an answer larger than a record — sent as several records, the
// first ones small (dynamic record sizing) — goes out in one write system call, on a
// fresh connection and on a warm one, and arrives whole. A record layer that writes
// record by record fails.
func TestOneWritePerCall(t *testing.T) {
	p := newTestPKI(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingListener{Listener: inner, writes: make(chan *countingConn, 4)}
	ids := &IdentitySource{}
	if err := ids.Store(p.server); err != nil {
		t.Fatal(err)
	}
	ln, err := NewListener(counting, ServerConfig{Identity: ids, Trust: p.trust, HandshakeTimeout: 2 * time.Second, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	answer := bytes.Repeat([]byte("0123456789abcdef"), 2600) // 41,600 bytes: three records at least
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		one := make([]byte, 1)
		for {
			if _, err := c.Read(one); err != nil {
				served <- nil
				return
			}
			if _, err := c.Write(answer); err != nil {
				served <- err
				return
			}
		}
	}()
	c := dialEcho(t, p, inner.Addr().String(), ECDHE_SM4_GCM_SM3)
	raw := <-counting.writes
	got := make([]byte, len(answer))
	for round := range 3 {
		before := raw.n.Load()
		if _, err := c.Write([]byte{'?'}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, answer) {
			t.Fatalf("round %d: answer differs", round)
		}
		if w := raw.n.Load() - before; w != 1 {
			t.Fatalf("round %d: a %d-byte answer took %d writes; want 1", round, len(answer), w)
		}
	}
	c.Close()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}
