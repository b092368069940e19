package gmtls

import (
	"bytes"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/govgate/govgate/internal/race"
)

// recordPair is a writer and a reader Conn over a pipe, past their handshake, sharing one
// SM4-GCM key for the writer's output and the reader's input; pool is given to both.
func recordPair(t *testing.T, pool *BlockPool) (w, r *Conn, wire *countingPipe) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	wire = &countingPipe{Conn: a}
	cfg := &Config{Blocks: pool, GMSupport: &GMSupport{}}
	w, r = newConn(wire, cfg, true), newConn(b, cfg, false)
	key, iv := bytes.Repeat([]byte{7}, 16), []byte{1, 2, 3, 4}
	for _, c := range []*Conn{w, r} {
		c.vers, c.haveVers = VersionGMSSL, true
		atomic.StoreUint32(&c.handshakeStatus, 1)
	}
	w.out.cipher, r.in.cipher = aeadSM4GCM(key, iv), aeadSM4GCM(key, iv)
	return w, r, wire
}

type countingPipe struct {
	net.Conn
	writes atomic.Int64
}

func (p *countingPipe) Write(b []byte) (int, error) { p.writes.Add(1); return p.Conn.Write(b) }

// held counts the record buffers a Conn keeps between records.
func held(c *Conn) int {
	n := 0
	for b := c.in.bfree; b != nil; b = b.link {
		n++
	}
	for b := c.out.bfree; b != nil; b = b.link {
		n++
	}
	if c.rawInput != nil {
		n++
	}
	if c.input != nil {
		n++
	}
	return n
}

// TestRecordBuffersReleasedBetweenRecords: with a pool, neither end keeps a record buffer
// once its record is written or read whole — the state of an idle keep-alive connection —
// and a large write still goes out in one write call, as several records the reader
// reassembles. Without a pool each end keeps its buffers (gmtls's own behaviour), which
// is what the pool is for; a connection that kept a buffer while idle fails.
func TestRecordBuffersReleasedBetweenRecords(t *testing.T) {
	msg := bytes.Repeat([]byte("0123456789abcdef"), 3000) // 48,000 bytes: several records
	for _, pooled := range []bool{true, false} {
		var pool *BlockPool
		if pooled {
			pool = &BlockPool{}
		}
		w, r, wire := recordPair(t, pool)
		got := make([]byte, len(msg))
		for round := range 3 {
			done := make(chan error, 1)
			go func() { _, err := io.ReadFull(r, got); done <- err }()
			before := wire.writes.Load()
			if _, err := w.Write(msg); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("pooled=%v round %d: the reader got other bytes", pooled, round)
			}
			if n := wire.writes.Load() - before; n != 1 {
				t.Fatalf("pooled=%v round %d: %d bytes went out in %d writes; want 1", pooled, round, len(msg), n)
			}
			if pooled && (held(w) != 0 || held(r) != 0) {
				t.Fatalf("round %d: between records the writer holds %d buffers, the reader %d; want none", round, held(w), held(r))
			}
			if !pooled && held(w)+held(r) == 0 {
				t.Fatalf("round %d: without a pool the ends keep no buffers: the test would not see a leak", round)
			}
		}
	}
}

// TestPooledRecordPathAllocatesNothing: with the pool, a record written and read whole
// allocates nothing once the pool is warm.
func TestPooledRecordPathAllocatesNothing(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector (sync.Pool drops items at random)")
	}
	w, r, _ := recordPair(t, &BlockPool{})
	msg := bytes.Repeat([]byte("q"), 1000)
	got := make([]byte, len(msg))
	done := make(chan error, 1)
	exchange := func() {
		go func() { _, err := io.ReadFull(r, got); done <- err }()
		if _, err := w.Write(msg); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		exchange()
	}
	// The reading goroutine is the test's own (one per record, 1 allocation or so); the
	// record layer adds nothing, bar a pool emptied by a collection now and then.
	a := testing.AllocsPerRun(500, exchange)
	if a > 1.2 {
		t.Fatalf("%.2f allocations per record written and read; want the reader goroutine's only", a)
	}
	t.Logf("%.2f allocations per record written and read, the reader goroutine's included", a)
}
