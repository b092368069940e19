package gateway

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestStaleCheckAfterIdle: a pooled connection the provider closed while it sat idle
// is refused before a byte of the next request is written
// (errStaleConn, which the pool retries on another connection); one whose provider is
// still there is written as usual.
func TestStaleCheckAfterIdle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 2)
	go func() {
		for closeIt := true; ; closeIt = false {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("r")) // the answer to a request before
			if closeIt {
				c.Close() // the provider's idle close
				continue
			}
			b, _ := io.ReadAll(io.LimitReader(c, 3))
			got <- b
			c.Close()
		}
	}()
	use := func() *upstreamConn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		uc := newUpstreamConn(c)
		if _, err := io.ReadFull(uc, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // the FIN arrives
		return uc
	}
	if n, err := use().Write([]byte("req")); n != 0 || !errors.Is(err, errStaleConn) {
		t.Fatalf("write to a connection the provider closed while idle: %d, %v; want 0, errStaleConn", n, err)
	}
	if n, err := use().Write([]byte("req")); n != 3 || err != nil {
		t.Fatalf("write to an idle connection still open: %d, %v", n, err)
	}
	if b := <-got; string(b) != "req" {
		t.Fatalf("the provider read %q", b)
	}
}

// BenchmarkIdleCheck is what the write that starts a request on a pooled connection adds
// to it: the recv system call of the idle check (peek).
func BenchmarkIdleCheck(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.Copy(io.Discard, c)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	uc := newUpstreamConn(c)
	for b.Loop() {
		if !uc.idle.usable() {
			b.Fatal("an open idle connection found unusable")
		}
	}
}
