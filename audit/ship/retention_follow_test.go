package ship

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/audit/index"
)

func removeSegment(t testing.TB, dir string, first uint64) {
	t.Helper()
	base := filepath.Join(dir, "segments", fmt.Sprintf("%020d", first))
	if err := os.Remove(base + ".seg"); err != nil {
		t.Fatal(err)
	}
	os.Remove(base + ".start")
}

// A shipper started on a log whose oldest segments the gateway's retention removed begins
// at the first segment kept, from its start state, which the next checkpoint confirms; the
// index then verifies from there.
func TestStartsAfterTheGatewaysRetention(t *testing.T) {
	ctx := context.Background()
	url, db := newIndex(t)
	a, _ := twoGateways(t)
	segs, err := audit.Segments(a.dir)
	if err != nil || len(segs) < 4 {
		t.Fatalf("segments %v, %v", segs, err)
	}
	removeSegment(t, a.dir, segs[0])
	removeSegment(t, a.dir, segs[1])
	res, err := shipOnce(t, url, a, 400)
	if err != nil || res.Next != a.size || res.Records != a.size-segs[2] {
		t.Fatalf("shipped %+v, %v; want records %d–%d", res, err, segs[2], a.size-1)
	}
	rep, err := index.Verify(ctx, db, a.origin, a.keys(t))
	if err != nil || rep.First != segs[2] || rep.First+rep.Records != a.size {
		t.Fatalf("verify --db: %+v, %v", rep, err)
	}
}

// Records the gateway's retention removed before the shipper got to them are refused
// loudly as lost: the index would otherwise hold a gap.
func TestRecordsLostToTheGatewaysRetention(t *testing.T) {
	url, db := newIndex(t)
	dir := filepath.Join(t.TempDir(), "gw-r")
	l, err := audit.Open(audit.Options{Dir: dir, Origin: "govgate.test/gw-r", Signer: newSigner(t, "gw-r"), SegmentBytes: 64 << 10, CheckpointInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	waitCheckpoint := func() {
		for c := l.Checkpoint(); c == nil || c.Size < l.Size(); c = l.Checkpoint() {
			time.Sleep(5 * time.Millisecond)
		}
	}
	appendRecords(t, l, "gw-r", 0, 300)
	waitCheckpoint()
	b, err := os.ReadFile(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := audit.ParseKeySet(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), Options{Dir: dir, Keys: ks, DB: connect(t, url), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Once(context.Background()); err != nil || res.Next != 300 {
		t.Fatalf("first pass: %+v, %v", res, err)
	}
	appendRecords(t, l, "gw-r", 300, 2000)
	waitCheckpoint()
	segs, _ := audit.Segments(dir)
	for _, first := range segs[:len(segs)-1] {
		removeSegment(t, dir, first)
	}
	if _, err := s.Once(context.Background()); !errors.Is(err, ErrRefused) {
		t.Fatalf("records removed before shipping: %v", err)
	}
	if as := alerts(t, db, "govgate.test/gw-r"); len(as) != 1 || as[0].Kind != "records_lost" || as[0].Index == nil || *as[0].Index != 300 {
		t.Fatalf("alerts: %+v", as)
	}
}
