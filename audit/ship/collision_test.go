package ship

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/audit/index"
	"github.com/jackc/pgx/v5"
)

// Tamperer: a roll-up row's texts changed in the database (its group_key kept), so that
// the shipper's next records of that group find their key held by another group's row.
// The shipper must stop loudly, as for any refusal — an alerts row naming the collision,
// the refused metric, ErrRefused from this pass and the next — not fail the batch with a
// bare error, to be restarted by its supervisor and fail again with no alert, for ever.
// Nothing of the refused batch is written.
func TestRollupKeyCollisionRefusedLoudly(t *testing.T) {
	ctx := context.Background()
	url, db := newIndex(t)
	dir := t.TempDir()
	signer := newSigner(t, "gw-c")
	g := genLog(t, filepath.Join(dir, "gw-c"), "govgate.test/gw-c", signer, 0, 1500, 64<<10)
	s, err := New(ctx, Options{Dir: g.dir, Keys: g.keys(t), DB: connect(t, url), Writers: []*pgx.Conn{connect(t, url)},
		Batch: 400, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Once(ctx); err != nil || res.Next != 1500 {
		t.Fatalf("first pass: %+v, %v", res, err)
	}
	// Every daily row of the last day now holds other texts under its group's key.
	tag, err := db.Exec(ctx, `UPDATE sharing_daily SET agreement = agreement || '-forged'
		WHERE origin = $1 AND day = (SELECT max(day) FROM sharing_daily WHERE origin = $1)`, g.origin)
	if err != nil || tag.RowsAffected() == 0 {
		t.Fatalf("plant the collision: %v, %v", tag, err)
	}
	l, err := audit.Open(audit.Options{Dir: g.dir, Origin: g.origin, Signer: signer, SegmentBytes: 64 << 10, CheckpointInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	appendRecords(t, l, filepath.Base(g.dir), 1500, 300) // the same day, the same groups
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := s.Once(ctx)
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("a batch whose roll-up group's key another group's row holds: %+v, %v; want ErrRefused", res, err)
	}
	as := alerts(t, db, g.origin)
	if len(as) != 1 || as[0].Kind != "rollup_key_collision" || as[0].Index == nil || *as[0].Index != 1500 || !strings.Contains(as[0].Detail, "group") {
		t.Fatalf("alerts: %+v", as)
	}
	if !s.stats.refused.Load() || s.stats.alerts.Load() != 1 {
		t.Fatalf("metrics: refused %v, alerts %d", s.stats.refused.Load(), s.stats.alerts.Load())
	}
	if _, err := s.Once(ctx); !errors.Is(err, ErrRefused) {
		t.Fatalf("the pass after the refusal: %v", err)
	}
	if n := count(t, db, `SELECT count(*) FROM records WHERE origin = $1 AND idx >= 1500`, g.origin); n != 0 {
		t.Fatalf("%d records of the refused batches written", n)
	}
	if n := count(t, db, `SELECT count(*) FROM sharing_daily WHERE origin = $1 AND agreement NOT LIKE '%-forged' AND day = (SELECT max(day) FROM sharing_daily WHERE origin = $1)`, g.origin); n != 0 {
		t.Fatalf("%d rows of the forged day's groups beside the forged ones: the groups were counted twice", n)
	}
	// verify --db names the rows: their key is not their texts'.
	rep, err := index.Verify(ctx, db, g.origin, g.keys(t))
	if err == nil || rep == nil || !strings.Contains(fmt.Sprint(rep.Faults), fmt.Sprintf("%d rows of sharing_daily hold a group_key that is not their group's", tag.RowsAffected())) {
		t.Fatalf("verify --db after the texts were changed: %v", err)
	}
}
