package ship

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/govgate/govgate/audit"
)

// One shipper follows a log while the gateway writes it: each pass ships what the newest
// checkpoint covers, across segment rotations, reading only the checkpoints appended since
// the pass before. When the log is then replaced by a shorter one under the same key (its
// checkpoints file shrinks), the same shipper refuses it.
func TestFollowsAGrowingLog(t *testing.T) {
	ctx := context.Background()
	url, db := newIndex(t)
	dir := filepath.Join(t.TempDir(), "gw-f")
	signer := newSigner(t, "gw-f")
	l, err := audit.Open(audit.Options{Dir: dir, Origin: "govgate.test/gw-f", Signer: signer, SegmentBytes: 64 << 10, CheckpointInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	keys := filepath.Join(t.TempDir(), "keys.json")
	var s *Shipper
	for round := range 4 {
		appendRecords(t, l, "gw-f", round*700, 700)
		for c := l.Checkpoint(); c == nil || c.Size < l.Size(); c = l.Checkpoint() {
			time.Sleep(5 * time.Millisecond)
		}
		if s == nil {
			b, err := os.ReadFile(filepath.Join(dir, "keys.json"))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(keys, b, 0o600)
			ks, err := audit.LoadKeySet(keys)
			if err != nil {
				t.Fatal(err)
			}
			if s, err = New(ctx, Options{Dir: dir, Keys: ks, DB: connect(t, url), Batch: 300, Logger: slog.New(slog.DiscardHandler)}); err != nil {
				t.Fatal(err)
			}
		}
		res, err := s.Once(ctx)
		if err != nil || res.Next != l.Size() {
			t.Fatalf("round %d: %+v, %v; the log holds %d", round, res, err, l.Size())
		}
	}
	if segs, _ := audit.Segments(dir); len(segs) < 4 {
		t.Fatalf("%d segments: the log did not rotate", len(segs))
	}
	if n := count(t, db, `SELECT count(*) FROM records`); n != 2800 {
		t.Fatalf("%d rows, want 2800", n)
	}
	l.Close()
	os.RemoveAll(dir)
	genLog(t, dir, "govgate.test/gw-f", signer, 0, 100, 64<<10)
	if _, err := s.Once(ctx); !errors.Is(err, ErrRefused) {
		t.Fatalf("a shorter log under the same key: %v", err)
	}
	if as := alerts(t, db, "govgate.test/gw-f"); len(as) != 1 || as[0].Kind != "inconsistent_checkpoint" {
		t.Fatalf("alerts: %+v", as)
	}
}
