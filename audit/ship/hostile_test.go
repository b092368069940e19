package ship

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/audit/index"
)

// A database administrator who removes the checkpoint rows covering the last rows, and
// rewrites one of those rows whole (bytes, leaf hash and column agreeing), is found by
// verify --db: rows no stored checkpoint covers prove nothing.
func TestVerifyDBFindsRowsNoCheckpointCovers(t *testing.T) {
	ctx := context.Background()
	url, db := newIndex(t)
	a, _ := twoGateways(t)
	if _, err := shipOnce(t, url, a, 1000); err != nil {
		t.Fatal(err)
	}
	const idx = 2999
	var rec []byte
	if err := db.QueryRow(ctx, `SELECT record FROM records WHERE origin = $1 AND idx = $2`, a.origin, idx).Scan(&rec); err != nil {
		t.Fatal(err)
	}
	r, err := audit.ParseRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	r.RequestID = "forged-request"
	forged := r.Encode()
	changes := []struct {
		name string
		sql  []string
	}{
		{"the last checkpoints removed, a row after the one before rewritten", []string{
			`DELETE FROM checkpoints WHERE origin = $1 AND size > 2999`,
			`UPDATE records SET record = $2, leaf_hash = $3, request_id = $4 WHERE origin = $1 AND idx = 2999`}},
		{"every checkpoint removed", []string{`DELETE FROM checkpoints WHERE origin = $1`}},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			tx, err := db.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			for _, sql := range c.sql {
				args := []any{a.origin}
				if strings.Contains(sql, "$2") {
					args = append(args, forged, audit.Hasher{}.HashLeaf(forged), r.RequestID)
				}
				if tag, err := tx.Exec(ctx, sql, args...); err != nil || tag.RowsAffected() == 0 {
					t.Fatalf("%s: %v, %v", sql, tag, err)
				}
			}
			rep, err := verifyIn(ctx, tx, a)
			var faults audit.Faults
			if !errors.As(err, &faults) || rep == nil || len(rep.Faults) == 0 {
				t.Fatalf("verify --db after %s: %+v, %v", c.name, rep, err)
			}
			t.Logf("%s: %v", c.name, err)
		})
	}
	if _, err := index.Verify(ctx, db, a.origin, a.keys(t)); err != nil {
		t.Fatalf("after the changes were rolled back: %v", err)
	}
}

// The reports read the roll-ups: a count changed there, a roll-up row added or removed,
// a row's provider_dept changed (which the record cannot tell), or a roll-up of an origin
// no log backs would change a report while every record verifies. verify --db recounts
// the roll-ups from the records and finds each.
func TestVerifyDBFindsChangedRollups(t *testing.T) {
	ctx := context.Background()
	url, db := newIndex(t)
	a, _ := twoGateways(t)
	if _, err := shipOnce(t, url, a, 1000); err != nil {
		t.Fatal(err)
	}
	changes := []struct{ name, sql string }{
		{"a daily count", `UPDATE sharing_daily SET n = n + 100 WHERE ctid = (SELECT ctid FROM sharing_daily WHERE origin = $1 ORDER BY day, agreement LIMIT 1)`},
		{"a monthly volume", `UPDATE sharing_monthly SET bytes_released = bytes_released * 10 WHERE ctid = (SELECT ctid FROM sharing_monthly WHERE origin = $1 AND bytes_released > 0 LIMIT 1)`},
		{"a daily row removed", `DELETE FROM sharing_daily WHERE ctid = (SELECT ctid FROM sharing_daily WHERE origin = $1 AND outcome = 'denied' LIMIT 1)`},
		{"a daily row added", `INSERT INTO sharing_daily VALUES ('2026-11-01', $1, 'exchange', '110000-rensheju', '', 'pool-hu', 'hukou.basic', 'agr-forged', '', 'allowed', 5000, 900000,
			rollup_group_key($1, 'exchange', '110000-rensheju', '', 'pool-hu', 'hukou.basic', 'agr-forged', '', 'allowed'))`},
		{"a daily row's key", `UPDATE sharing_daily SET group_key = sha256('another group') WHERE ctid = (SELECT ctid FROM sharing_daily WHERE origin = $1 LIMIT 1)`},
		{"a row's provider_dept", `UPDATE records SET provider_dept = 'someone-else' WHERE origin = $1 AND idx = (SELECT min(idx) FROM records WHERE origin = $1 AND sharing)`},
		{"an origin no log backs", `INSERT INTO sharing_monthly SELECT month, 'govgate.test/ghost', kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome, n, bytes_released,
			rollup_group_key('govgate.test/ghost', kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome) FROM sharing_monthly WHERE origin = $1`},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			tx, err := db.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if tag, err := tx.Exec(ctx, c.sql, a.origin); err != nil || tag.RowsAffected() == 0 {
				t.Fatalf("%s: %v, %v", c.sql, tag, err)
			}
			rep, err := verifyIn(ctx, tx, a)
			var faults audit.Faults
			if !errors.As(err, &faults) || rep == nil || len(rep.Faults) == 0 {
				t.Fatalf("verify --db after %s: %+v, %v", c.name, rep, err)
			}
			t.Logf("%s: %v", c.name, err)
		})
	}
	if _, err := index.Verify(ctx, db, a.origin, a.keys(t)); err != nil {
		t.Fatalf("after the changes were rolled back: %v", err)
	}
}

// A record may carry a NUL character (escaped in its canonical bytes), which
// PostgreSQL's text refuses: such a record — with SQL-significant text too — is shipped
// like any other, its bytes kept as signed, and verify --db passes; one hostile record
// does not stop its origin's shipping for good.
func TestRecordWithNULShipped(t *testing.T) {
	ctx := context.Background()
	url, db := newIndex(t)
	dir := filepath.Join(t.TempDir(), "gw-n")
	l, err := audit.Open(audit.Options{Dir: dir, Origin: "govgate.test/gw-n", Signer: newSigner(t, "gw-n"), CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		r := genRecord("gw-n", i)
		switch i {
		case 10: // allowed
			r.Purpose = "审核\x00'); DROP TABLE records; --"
			r.RequestID = "req\x00-10"
			r.Fields = []string{"name\x00", "id"}
		case 13: // denied
			r.Decision.Reasons = []string{"no_agreement\x00"}
			r.Agreement = "agr\x00-13"
		case 17: // failed
			r.Error = "upstream said \x00\x00"
		}
		if _, err := l.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(filepath.Dir(dir), "gw-n-trusted-keys.json")
	b, err := os.ReadFile(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keys, b, 0o600); err != nil {
		t.Fatal(err)
	}
	g := &gateway{dir: dir, origin: "govgate.test/gw-n", keysPath: keys, size: n}
	if rep, err := audit.Verify(dir, g.keys(t)); err != nil || rep.Records != n {
		t.Fatalf("the log itself: %+v, %v", rep, err)
	}
	res, err := shipOnce(t, url, g, 7)
	if err != nil || res.Next != n {
		t.Fatalf("shipping records with NUL characters: %+v, %v", res, err)
	}
	if rep, err := index.Verify(ctx, db, g.origin, g.keys(t)); err != nil || rep.Records != n {
		t.Fatalf("verify --db: %+v, %v", rep, err)
	}
	var purpose string
	var record []byte
	if err := db.QueryRow(ctx, `SELECT purpose, record FROM records WHERE origin = $1 AND idx = 10`, g.origin).Scan(&purpose, &record); err != nil {
		t.Fatal(err)
	}
	if purpose != "审核\uFFFD'); DROP TABLE records; --" || !strings.Contains(string(record), `审核\u0000'); DROP TABLE records; --`) {
		t.Fatalf("row 10: purpose %q, record %s", purpose, record)
	}
	rows, err := index.Report(ctx, db, audit.ReportOptions{To: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), By: []audit.ReportDim{audit.ByReason}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range rows {
		total += r.Allowed + r.Denied + r.Failed
	}
	want := 0
	for _, r := range fileReport(t, audit.ReportOptions{To: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), By: []audit.ReportDim{audit.ByReason}}, g) {
		want += r.Allowed + r.Denied + r.Failed
	}
	if total == 0 || total != want {
		t.Fatalf("the report by reason from the index counts %d records, from the log %d", total, want)
	}
}

// A retention run that stopped after some exports were written — killed, or refused by a
// later origin's export — leaves them in place with the month kept; the next run over
// the same export directory drops the month all the same (the earlier exports are moved
// aside, not lost), and every export it names verifies.
func TestRetainAfterAnInterruptedRun(t *testing.T) {
	ctx := context.Background()
	dbURL, db := newIndex(t)
	a, b := twoGateways(t)
	for _, g := range []*gateway{a, b} {
		if _, err := shipOnce(t, dbURL, g, 1000); err != nil {
			t.Fatal(err)
		}
	}
	keys := mergedKeys(t, a, b)
	exports := t.TempDir()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(index.DefaultRetention + time.Hour)
	opts := index.RetainOptions{GatewayRetention: 180 * 24 * time.Hour, ExportDir: exports, Keys: keys, Now: now}
	// Gateway b's export (the second, by origin) does not verify: a's was written first.
	change := `UPDATE records SET record = convert_to(replace(convert_from(record, 'UTF8'), '%s', '%s'), 'UTF8') WHERE origin = $1 AND idx = 5`
	if _, err := db.Exec(ctx, fmt.Sprintf(change, "127.0.0.1", "127.0.0.9"), b.origin); err != nil {
		t.Fatal(err)
	}
	if dropped, err := index.Retain(ctx, db, opts); err == nil || len(dropped) != 0 {
		t.Fatalf("retention over a changed row: %+v, %v", dropped, err)
	}
	if _, err := audit.Verify(filepath.Join(exports, "records_202610", url.PathEscape(a.origin)), keys); err != nil {
		t.Fatalf("the first run's export of %s: %v", a.origin, err)
	}
	if _, err := db.Exec(ctx, fmt.Sprintf(change, "127.0.0.9", "127.0.0.1"), b.origin); err != nil {
		t.Fatal(err)
	}
	dropped, err := index.Retain(ctx, db, opts)
	if err != nil || len(dropped) != 1 || len(dropped[0].Exports) != 2 {
		t.Fatalf("retention after an interrupted run: %+v, %v", dropped, err)
	}
	for origin, dir := range dropped[0].Exports {
		if rep, err := audit.Verify(dir, keys); err != nil || rep.Records == 0 {
			t.Fatalf("the export of %s: %+v, %v", origin, rep, err)
		}
	}
	aside, err := filepath.Glob(filepath.Join(exports, "records_202610", url.PathEscape(a.origin)+".stale-*"))
	if err != nil || len(aside) != 1 {
		t.Fatalf("the first run's export of %s moved aside: %v, %v", a.origin, aside, err)
	}
}

// A record a signed checkpoint covers that cannot be read whole — changed on disk without
// its frame's checksum fixed, in the segment being written — is refused loudly; the
// shipper does not wait for it for ever as if it were a tail still being written.
func TestUnreadableCoveredRecordRefused(t *testing.T) {
	url, db := newIndex(t)
	a, _ := twoGateways(t)
	firsts, err := audit.Segments(a.dir)
	if err != nil || len(firsts) < 2 {
		t.Fatalf("segments: %v, %v", firsts, err)
	}
	bad := firsts[len(firsts)-1] // in the last segment, which the reader ends at a bad frame
	tamperFrame(t, a.dir, bad, `"client":"127.0.0.1`, `"client":"127.0.0.9`, false)
	res, err := shipOnce(t, url, a, 1000)
	if !errors.Is(err, ErrRefused) || res.Next > bad {
		t.Fatalf("shipping a log whose record %d cannot be read: %+v, %v", bad, res, err)
	}
	as := alerts(t, db, a.origin)
	if len(as) != 1 || as[0].Kind != "record_invalid" || as[0].Index == nil || uint64(*as[0].Index) != bad {
		t.Fatalf("alerts: %+v", as)
	}
}

// A shipped record made unreadable on disk in an older segment (changed without its
// frame's checksum fixed: the reader stops in that segment and goes on with the next) is
// found when the shipper next starts, as a record changed after shipping is.
func TestShippedRecordUnreadableOnDiskRefused(t *testing.T) {
	url, db := newIndex(t)
	a, _ := twoGateways(t)
	if _, err := shipOnce(t, url, a, 1000); err != nil {
		t.Fatal(err)
	}
	tamperFrame(t, a.dir, 7, `"client":"127.0.0.1`, `"client":"127.0.0.9`, false)
	if _, err := shipOnce(t, url, a, 1000); !errors.Is(err, ErrRefused) {
		t.Fatalf("shipping a log whose shipped record 7 cannot be read: %v", err)
	}
	as := alerts(t, db, a.origin)
	if len(as) != 1 || as[0].Kind != "record_changed_on_disk" || as[0].Index == nil || *as[0].Index != 7 {
		t.Fatalf("alerts: %+v", as)
	}
}

// A record with long texts in the roll-ups' key — an agreement a consumer named, an error
// — longer than a B-tree row may be, is shipped and counted like any other: it does not
// stop its origin's shipping for good.
func TestLongFieldsShipped(t *testing.T) {
	ctx := context.Background()
	url, db := newIndex(t)
	dir := filepath.Join(t.TempDir(), "gw-l")
	l, err := audit.Open(audit.Options{Dir: dir, Origin: "govgate.test/gw-l", Signer: newSigner(t, "gw-l"), CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	long := func(seed string) string { // incompressible: PostgreSQL compresses long index rows
		var b strings.Builder
		for i := 0; b.Len() < 6000; i++ {
			fmt.Fprintf(&b, "%x", audit.Hasher{}.HashLeaf([]byte(fmt.Sprint(seed, i))))
		}
		return b.String()
	}
	const n = 30
	for i := range n {
		r := genRecord("gw-l", i)
		switch i {
		case 13: // denied
			r.Agreement = long("agreement")
		case 17: // failed
			r.Error = long("error")
			r.Resource = long("resource")
		}
		if _, err := l.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(filepath.Dir(dir), "gw-l-trusted-keys.json")
	b, err := os.ReadFile(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keys, b, 0o600); err != nil {
		t.Fatal(err)
	}
	g := &gateway{dir: dir, origin: "govgate.test/gw-l", keysPath: keys, size: n}
	if res, err := shipOnce(t, url, g, 7); err != nil || res.Next != n {
		t.Fatalf("shipping records with long texts: %+v, %v", res, err)
	}
	if rep, err := index.Verify(ctx, db, g.origin, g.keys(t)); err != nil || rep.Records != n {
		t.Fatalf("verify --db: %+v, %v", rep, err)
	}
	opts := audit.ReportOptions{To: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), By: []audit.ReportDim{audit.ByAgreement, audit.ByReason, audit.ByResource}}
	got, err := index.Report(ctx, db, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := fileReport(t, opts, g); !reflect.DeepEqual(got, want) {
		t.Fatalf("report:\n db   %+v\n file %+v", got, want)
	}
}

// A running shipper whose gateway's log is made again — truncated and grown past where
// the shipper had read its checkpoints file — refuses it at its next pass (the note it
// read last is no longer there), rather than waiting for ever on a file it cannot read.
func TestRunningShipperRefusesARegrownLog(t *testing.T) {
	ctx := context.Background()
	url, db := newIndex(t)
	dir := t.TempDir()
	signer := newSigner(t, "gw-a")
	a := genLog(t, filepath.Join(dir, "gw-a"), "govgate.test/gw-a", signer, 0, 1500, 64<<10)
	s, err := New(ctx, Options{Dir: a.dir, Keys: a.keys(t), DB: connect(t, url), Batch: 1000, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Once(ctx); err != nil || res.Next != a.size {
		t.Fatalf("first pass: %+v, %v", res, err)
	}
	before, err := os.Stat(filepath.Join(a.dir, "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(a.dir); err != nil {
		t.Fatal(err)
	}
	genLog(t, a.dir, a.origin, signer, 7, 6000, 64<<10) // other records, more of them
	// Checkpoints are signed on a timer, so how many the regrown log has depends on the
	// machine's speed: grow it further until its checkpoints file is past the read offset.
	for next := 7 + 6000; ; next += 2000 {
		after, err := os.Stat(filepath.Join(a.dir, "checkpoints"))
		if err != nil {
			t.Fatal(err)
		}
		if after.Size() > before.Size() {
			break
		}
		if next > 7+60000 {
			t.Fatalf("the regrown checkpoints file stays at %d bytes (the test needs it larger than %d)", after.Size(), before.Size())
		}
		l, err := audit.Open(audit.Options{Dir: a.dir, Origin: a.origin, Signer: signer, SegmentBytes: 64 << 10, CheckpointInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		appendRecords(t, l, filepath.Base(a.dir), next, 2000)
		time.Sleep(50 * time.Millisecond) // a checkpoint over them
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.Once(ctx)
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("a running shipper's next pass over a regrown log: %+v, %v", res, err)
	}
	if as := alerts(t, db, a.origin); len(as) != 1 || as[0].Kind != "inconsistent_checkpoint" {
		t.Fatalf("alerts: %+v", as)
	}
}
