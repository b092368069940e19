package ship

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/audit/index"
	"github.com/jackc/pgx/v5"
)

// Records read into shared arena blocks, and parsed into strings that are pieces of one
// copy of each: over more than two spans — a span's rows copied to the database while the
// next span is read (the reader's window reused) and parsed — with records of every size,
// some past an arena block's eighth (their own copy) and many filling a block's end, every
// row the index holds is its record's, column by column (verify --db), and its record
// hashes to its leaf. A byte of any row taken from a buffer written again would show.
func TestSpansShipIntact(t *testing.T) {
	if testing.Short() {
		t.Skip("ships more than two spans")
	}
	ctx := context.Background()
	url, db := newIndex(t)
	n := 2*span + 4000
	gen := func(gw string, i int) *audit.Record {
		r := genRecord(gw, i)
		switch {
		case i%997 == 0:
			r.RequestID += strings.Repeat("审核-", 4000+i%3000) // past arenaBlock/8
		case i%3 == 0:
			r.RequestID += strings.Repeat("p", i%1500)
		}
		return r
	}
	g := genLogOf(t, filepath.Join(t.TempDir(), "gw-s"), "govgate.test/gw-s", newSigner(t, "gw-s"), 0, n, 4<<20, gen)
	s, err := New(ctx, Options{Dir: g.dir, Keys: g.keys(t), DB: connect(t, url), Writers: []*pgx.Conn{connect(t, url)},
		Batch: 3000, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Once(ctx); err != nil || res.Next != uint64(n) {
		t.Fatalf("shipped %+v, %v", res, err)
	}
	rep, err := index.Verify(ctx, db, g.origin, g.keys(t))
	if err != nil || rep.Records != uint64(n) {
		t.Fatalf("verify --db over %d records: %+v, %v", n, rep, err)
	}
	if long := count(t, db, `SELECT count(*) FROM records WHERE length(request_id) > 12000`); long != int64(n/997+1) {
		t.Fatalf("%d records with a long request_id, want %d", long, n/997+1)
	}
}
