package ship

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/govgate/govgate/audit"
)

// A running shipper keeps where its last scan stopped and starts the next span there. The
// segment holding that frame changed in place under it — the next record rewritten with
// the same length and its checksum fixed, or its frame cut short — is refused at the next
// pass as a record the checkpoint covers that does not verify or cannot be read: the
// saved position is no way around the checks, and nothing from that record on is shipped.
func TestRunningShipperRefusesChangedFrameAtItsPosition(t *testing.T) {
	for _, fixCRC := range []bool{true, false} {
		t.Run(map[bool]string{true: "rewritten", false: "unreadable"}[fixCRC], func(t *testing.T) {
			ctx := context.Background()
			url, db := newIndex(t)
			signer := newSigner(t, "gw-a")
			a := genLog(t, filepath.Join(t.TempDir(), "gw-a"), "govgate.test/gw-a", signer, 0, 1500, 1<<20)
			s, err := New(ctx, Options{Dir: a.dir, Keys: a.keys(t), DB: connect(t, url), Batch: 1000, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if res, err := s.Once(ctx); err != nil || res.Next != a.size {
				t.Fatalf("first pass: %+v, %v", res, err)
			}
			if s.scanPos.Index != a.size || s.scanPos.Offset <= 16 {
				t.Fatalf("the scan stopped at %+v, want the frame after record %d", s.scanPos, a.size-1)
			}
			l, err := audit.Open(audit.Options{Dir: a.dir, Origin: a.origin, Signer: signer, SegmentBytes: 1 << 20, CheckpointInterval: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			appendRecords(t, l, filepath.Base(a.dir), int(a.size), 500)
			for c := l.Checkpoint(); c == nil || c.Size < l.Size(); c = l.Checkpoint() {
				time.Sleep(5 * time.Millisecond)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			segs, _ := audit.Segments(a.dir)
			holding := uint64(0)
			for _, f := range segs {
				if f <= a.size {
					holding = f
				}
			}
			if holding != s.scanPos.Segment {
				t.Fatalf("segments %v: record %d is not in the segment the position names", segs, a.size)
			}
			tamperFrame(t, a.dir, a.size, `"client":"127.0.0.1`, `"client":"127.0.0.9`, fixCRC)
			res, err := s.Once(ctx)
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("a pass over a record changed at the saved position: %+v, %v", res, err)
			}
			if n := count(t, db, `SELECT count(*) FROM records WHERE origin = $1 AND idx >= $2`, a.origin, int64(a.size)); n != 0 {
				t.Fatalf("%d records from the changed one on were shipped", n)
			}
			as := alerts(t, db, a.origin)
			if len(as) != 1 || as[0].Kind != "record_invalid" || as[0].Index == nil || uint64(*as[0].Index) != a.size {
				t.Fatalf("alerts: %+v", as)
			}
		})
	}
}
