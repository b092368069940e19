package ship

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/audit/index"
	"github.com/govgate/govgate/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

var server *pgtest.Server

// TestMain starts one PostgreSQL for the package; run as GOVGATE_SHIP_CHILD=1 the test
// binary is the shipper process the crash test kills.
func TestMain(m *testing.M) {
	if os.Getenv("GOVGATE_SHIP_CHILD") == "1" {
		os.Exit(childShipper())
	}
	os.Exit(pgtest.Main(m, pgtest.Options{}, func(s *pgtest.Server) { server = s }))
}

// childShipper ships GOVGATE_SHIP_DIR into GOVGATE_SHIP_DB until killed.
func childShipper() int {
	ctx := context.Background()
	keys, err := audit.LoadKeySet(os.Getenv("GOVGATE_SHIP_KEYS"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	db, err := pgx.Connect(ctx, os.Getenv("GOVGATE_SHIP_DB"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	writer, err := pgx.Connect(ctx, os.Getenv("GOVGATE_SHIP_DB"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	batch, _ := strconv.Atoi(os.Getenv("GOVGATE_SHIP_BATCH"))
	s, err := New(ctx, Options{Dir: os.Getenv("GOVGATE_SHIP_DIR"), Keys: keys, DB: db, Writers: []*pgx.Conn{writer}, Batch: batch, Poll: 10 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := s.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	db, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return db
}

// newIndex is a fresh database with the schema migrated.
func newIndex(t testing.TB) (string, *pgx.Conn) {
	t.Helper()
	url := server.Database(t)
	db := connect(t, url)
	if _, err := index.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return url, db
}

func shipOnce(t testing.TB, url string, g *gateway, batch int) (Result, error) {
	t.Helper()
	db := connect(t, url)
	// Two connections, as by default: batches are copied while the one before commits.
	s, err := New(context.Background(), Options{Dir: g.dir, Keys: g.keys(t), DB: db, Writers: []*pgx.Conn{connect(t, url)},
		Batch: batch, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s.Once(context.Background())
}

func count(t testing.TB, db *pgx.Conn, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func twoGateways(t testing.TB) (*gateway, *gateway) {
	dir := t.TempDir()
	a := genLog(t, filepath.Join(dir, "gw-a"), "govgate.test/gw-a", newSigner(t, "gw-a"), 0, 3000, 128<<10)
	b := genLog(t, filepath.Join(dir, "gw-b"), "govgate.test/gw-b", newSigner(t, "gw-b"), 0, 2000, 96<<10)
	return a, b
}

// Two gateways' logs go into one index, each record once, however often the shipper
// runs; the migration is applied once and refuses nothing the second time.
func TestTwoGatewaysShippedOnce(t *testing.T) {
	ctx := context.Background()
	url, db := newIndex(t)
	if again, err := index.Migrate(ctx, db); err != nil || len(again) != 0 {
		t.Fatalf("second migrate: applied %v, %v", again, err)
	}
	a, b := twoGateways(t)
	for _, g := range []*gateway{a, b} {
		if segs, _ := audit.Segments(g.dir); len(segs) < 3 {
			t.Fatalf("%s: %d segments; the test needs rotation", g.dir, len(segs))
		}
		res, err := shipOnce(t, url, g, 700)
		if err != nil {
			t.Fatal(err)
		}
		if res.Records != g.size || res.Next != g.size || res.Origin != g.origin {
			t.Fatalf("%s: shipped %+v, want %d records", g.origin, res, g.size)
		}
		if res, err := shipOnce(t, url, g, 700); err != nil || res.Records != 0 {
			t.Fatalf("shipping again: %+v, %v", res, err)
		}
		if n := count(t, db, `SELECT count(*) FROM records WHERE origin = $1`, g.origin); n != int64(g.size) {
			t.Fatalf("%s: %d rows, want %d", g.origin, n, g.size)
		}
		if n := count(t, db, `SELECT count(DISTINCT idx) FROM records WHERE origin = $1`, g.origin); n != int64(g.size) {
			t.Fatalf("%s: %d distinct indexes, want %d", g.origin, n, g.size)
		}
		if n := count(t, db, `SELECT max(size) FROM checkpoints WHERE origin = $1`, g.origin); n != int64(g.size) {
			t.Fatalf("%s: the last checkpoint shipped covers %d, want %d", g.origin, n, g.size)
		}
		if rep, err := index.Verify(ctx, db, g.origin, g.keys(t)); err != nil || rep.Records != g.size {
			t.Fatalf("verify --db %s: %+v, %v", g.origin, rep, err)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'records'::regclass`); n != 2 {
		t.Fatalf("%d monthly partitions, want 2 (October and November)", n)
	}
	if n := count(t, db, `SELECT count(*) FROM alerts`); n != 0 {
		t.Fatalf("%d alerts for honest logs", n)
	}
}

// The reports over the index are the file-based reports over the same logs, summed over
// both gateways: every grouping, with and without a time window and provider departments.
func TestReportsEqualFileReports(t *testing.T) {
	ctx := context.Background()
	url, db := newIndex(t)
	a, b := twoGateways(t)
	for _, g := range []*gateway{a, b} {
		if _, err := shipOnce(t, url, g, 1000); err != nil {
			t.Fatal(err)
		}
	}
	owner := func(resource string) string { return "owner-of-" + resource }
	cst := time.FixedZone("CST", 8*3600)
	windows := [][2]time.Time{
		{{}, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 10, 31, 21, 13, 7, 0, cst), time.Date(2026, 11, 1, 2, 30, 0, 0, cst)},       // within two days
		{time.Date(2026, 11, 1, 0, 0, 0, 0, cst), time.Date(2026, 11, 2, 0, 0, 0, 0, cst)},           // one whole day
		{time.Date(2026, 10, 31, 19, 0, 0, 123000, cst), time.Date(2026, 11, 1, 23, 59, 59, 0, cst)}, // edges both sides
		// Whole months come from the monthly roll-up (unless by day), the whole days
		// around them from the daily one, the partial days from the records.
		{time.Date(2026, 10, 31, 19, 0, 0, 123000, cst), time.Date(2026, 12, 15, 0, 0, 0, 0, cst)}, // partial day, November, December's days
		{time.Date(2026, 10, 1, 0, 0, 0, 0, cst), time.Date(2026, 11, 1, 12, 0, 0, 0, cst)},        // October whole, half of November 1
		{time.Date(2026, 9, 15, 0, 0, 0, 0, cst), time.Date(2026, 11, 1, 0, 0, 0, 0, cst)},         // September's days, October whole
		{time.Date(2026, 11, 1, 0, 0, 0, 0, cst), time.Date(2027, 1, 1, 0, 0, 0, 0, cst)},          // November and December whole
	}
	bys := [][]audit.ReportDim{
		{audit.ByDay}, {audit.ByMonth}, {audit.ByAgreement}, {audit.ByReason}, {audit.ByProvider}, {audit.ByConsumer},
		audit.DefaultReportBy(), {audit.ByDay, audit.ByConsumer, audit.ByReason}, {audit.ByPool, audit.ByKind, audit.ByResource},
	}
	checked := 0
	for _, w := range windows {
		for _, by := range bys {
			for _, pd := range []func(string) string{nil, owner} {
				opts := audit.ReportOptions{From: w[0], To: w[1], By: by, ProviderDept: pd}
				want := fileReport(t, opts, a, b)
				got, err := index.Report(ctx, db, opts, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("report by %v over %v (provider departments %v):\n db   %+v\n file %+v", by, w, pd != nil, got, want)
				}
				if len(want) > 0 {
					checked++
				}
			}
		}
	}
	if checked < len(windows)*len(bys) {
		t.Fatalf("only %d reports had rows: the test compares too little", checked)
	}
	only, err := index.Report(ctx, db, audit.ReportOptions{To: windows[0][1], By: []audit.ReportDim{audit.ByKind}}, []string{a.origin})
	if err != nil {
		t.Fatal(err)
	}
	if want := fileReport(t, audit.ReportOptions{To: windows[0][1], By: []audit.ReportDim{audit.ByKind}}, a); !reflect.DeepEqual(only, want) {
		t.Fatalf("report of one origin:\n db   %+v\n file %+v", only, want)
	}
}

// fileReport is audit.Report over each log, the rows of equal groups summed.
func fileReport(t testing.TB, opts audit.ReportOptions, gws ...*gateway) []audit.ReportRow {
	t.Helper()
	by := opts.By
	sums := map[string]*audit.ReportRow{}
	for _, g := range gws {
		rows, err := audit.Report(g.dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			key := ""
			for _, d := range by {
				key += r.Get(d) + "\x00"
			}
			if s := sums[key]; s != nil {
				s.Allowed += r.Allowed
				s.Denied += r.Denied
				s.Failed += r.Failed
				s.BytesReleased += r.BytesReleased
			} else {
				r := r
				sums[key] = &r
			}
		}
	}
	out := []audit.ReportRow{}
	for _, r := range sums {
		out = append(out, *r)
	}
	audit.SortReportRows(out, by)
	return out
}

// An administrator of the database who changes a row — a column, the record's bytes, or
// the bytes and the leaf hash together — is found by verify --db.
func TestVerifyDBFindsChangedRows(t *testing.T) {
	ctx := context.Background()
	url, db := newIndex(t)
	a, _ := twoGateways(t)
	if _, err := shipOnce(t, url, a, 1000); err != nil {
		t.Fatal(err)
	}
	changes := []struct{ name, sql string }{
		{"a column", `UPDATE records SET consumer_dept = 'someone-else' WHERE origin = $1 AND idx = 17`},
		{"a count", `UPDATE records SET bytes_response = bytes_response + 1 WHERE origin = $1 AND idx = 1200`},
		{"the bytes", `UPDATE records SET record = convert_to(replace(convert_from(record, 'UTF8'), '127.0.0.1', '127.0.0.9'), 'UTF8') WHERE origin = $1 AND idx = 42`},
		{"bytes and leaf", `UPDATE records SET record = convert_to(replace(convert_from(record, 'UTF8'), '127.0.0.1', '127.0.0.9'), 'UTF8'), leaf_hash = '\x00'::bytea WHERE origin = $1 AND idx = 2500`},
		{"a row removed", `DELETE FROM records WHERE origin = $1 AND idx = 2999`},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			tx, err := db.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if tag, err := tx.Exec(ctx, c.sql, a.origin); err != nil || tag.RowsAffected() != 1 {
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

// verifyIn runs Verify inside tx, through a connection that sees its changes: Verify
// takes a *pgx.Conn, so the changes are made on that connection, uncommitted.
func verifyIn(ctx context.Context, tx pgx.Tx, g *gateway) (*audit.VerifyReport, error) {
	return index.Verify(ctx, tx.Conn(), g.origin, keysOf(g))
}

func keysOf(g *gateway) *audit.KeySet {
	ks, err := audit.LoadKeySet(g.keysPath)
	if err != nil {
		panic(err)
	}
	return ks
}

func alerts(t testing.TB, db *pgx.Conn, origin string) []index.AlertRow {
	t.Helper()
	as, err := index.Alerts(context.Background(), db, origin)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// A record changed on disk after it was shipped is found when the shipper next starts
// (and every --recheck): refused loudly, an alerts row naming the record.
func TestRecordTamperedOnDiskAfterShipping(t *testing.T) {
	url, db := newIndex(t)
	a, _ := twoGateways(t)
	if _, err := shipOnce(t, url, a, 1000); err != nil {
		t.Fatal(err)
	}
	tamper(t, a.dir, 1234, `"client":"127.0.0.1`, `"client":"127.0.0.9`)
	_, err := shipOnce(t, url, a, 1000)
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("shipping a log changed on disk: %v", err)
	}
	as := alerts(t, db, a.origin)
	if len(as) != 1 || as[0].Kind != "record_changed_on_disk" || as[0].Index == nil || *as[0].Index != 1234 {
		t.Fatalf("alerts: %+v", as)
	}
}

// A record changed before it is shipped is refused: nothing after the last checkpoint
// before it is shipped, an alert says so, and the shipper stays stopped.
func TestRecordTamperedBeforeShipping(t *testing.T) {
	url, db := newIndex(t)
	a, _ := twoGateways(t)
	tamper(t, a.dir, 2100, `"client":"127.0.0.1`, `"client":"127.0.0.9`)
	res, err := shipOnce(t, url, a, 500)
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("shipping a changed record: %+v, %v", res, err)
	}
	if res.Next > 2100 || res.Next == 0 {
		t.Fatalf("shipped up to %d: want the records before the checkpoint preceding record 2100", res.Next)
	}
	if n := count(t, db, `SELECT count(*) FROM records WHERE origin = $1 AND idx >= 2100`, a.origin); n != 0 {
		t.Fatalf("%d records from 2100 on were shipped", n)
	}
	as := alerts(t, db, a.origin)
	if len(as) != 1 || as[0].Kind != "record_invalid" {
		t.Fatalf("alerts: %+v", as)
	}
}

// A gateway whose history was rewritten — the log made again with the same key and
// origin, other records, more of them — is refused: its checkpoints are not consistent
// with the ones shipped.
func TestRewrittenHistoryRefused(t *testing.T) {
	url, db := newIndex(t)
	dir := t.TempDir()
	signer := newSigner(t, "gw-a")
	a := genLog(t, filepath.Join(dir, "gw-a"), "govgate.test/gw-a", signer, 0, 1500, 64<<10)
	if _, err := shipOnce(t, url, a, 1000); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(a.dir); err != nil {
		t.Fatal(err)
	}
	// The rewritten log begins with other records (from 7 on) under the same key.
	genLog(t, a.dir, a.origin, signer, 7, 2500, 64<<10)
	res, err := shipOnce(t, url, a, 1000)
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("shipping a rewritten history: %+v, %v", res, err)
	}
	as := alerts(t, db, a.origin)
	if len(as) != 1 || as[0].Kind != "inconsistent_checkpoint" {
		t.Fatalf("alerts: %+v", as)
	}
	if n := count(t, db, `SELECT count(*) FROM records WHERE origin = $1`, a.origin); n != 1500 {
		t.Fatalf("%d rows after the rewritten history, want the 1500 shipped before", n)
	}
}

// A checkpoint signed by a key the auditor does not trust is refused.
func TestUntrustedCheckpointRefused(t *testing.T) {
	url, db := newIndex(t)
	a, b := twoGateways(t)
	a.keysPath = b.keysPath // gateway b's keys do not sign gateway a's log
	if _, err := shipOnce(t, url, a, 1000); !errors.Is(err, ErrRefused) {
		t.Fatalf("shipping with the wrong keys: %v", err)
	}
	if n := count(t, db, `SELECT count(*) FROM records`); n != 0 {
		t.Fatalf("%d rows shipped under untrusted checkpoints", n)
	}
	if as := alerts(t, db, ""); len(as) != 1 || as[0].Kind != "bad_checkpoint" {
		t.Fatalf("alerts: %+v", as)
	}
}

// The shipper killed with SIGKILL while it ships (a separate process, small batches) and
// started again ends with exactly one row per record, and the daily roll-up counts each
// record once.
func TestKilledShipperResumes(t *testing.T) {
	ctx := context.Background()
	url, db := newIndex(t)
	dir := t.TempDir()
	g := genLog(t, filepath.Join(dir, "gw-k"), "govgate.test/gw-k", newSigner(t, "gw-k"), 0, 20000, 512<<10)
	kills := 0
	for kills < 3 {
		before := count(t, db, `SELECT coalesce(max(next_idx), 0) FROM ship_progress`)
		if before >= int64(g.size) {
			break
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "GOVGATE_SHIP_CHILD=1", "GOVGATE_SHIP_DIR="+g.dir, "GOVGATE_SHIP_DB="+url,
			"GOVGATE_SHIP_KEYS="+g.keysPath, "GOVGATE_SHIP_BATCH=150")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for count(t, db, `SELECT coalesce(max(next_idx), 0) FROM ship_progress`) < before+1000 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		kills++
	}
	if kills == 0 {
		t.Fatal("the shipper was never killed")
	}
	mid := count(t, db, `SELECT count(*) FROM records`)
	if mid == 0 || mid >= int64(g.size) {
		t.Fatalf("after %d kills %d of %d records were in: the kills did not land mid-shipping", kills, mid, g.size)
	}
	if res, err := shipOnce(t, url, g, 150); err != nil || res.Next != g.size {
		t.Fatalf("resumed: %+v, %v", res, err)
	}
	if n := count(t, db, `SELECT count(*) FROM records`); n != int64(g.size) {
		t.Fatalf("%d rows, want %d", n, g.size)
	}
	if n := count(t, db, `SELECT count(DISTINCT idx) FROM records`); n != int64(g.size) {
		t.Fatalf("%d distinct indexes, want %d", n, g.size)
	}
	for _, rollup := range []string{"sharing_daily", "sharing_monthly"} {
		if n, r := count(t, db, `SELECT count(*) FROM records WHERE sharing`), count(t, db, `SELECT sum(n) FROM `+rollup); n != r {
			t.Fatalf("%s counts %d sharing records, the table holds %d", rollup, r, n)
		}
	}
	if _, err := index.Verify(ctx, db, g.origin, g.keys(t)); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed %d times; %d records in before the last start", kills, mid)
}
