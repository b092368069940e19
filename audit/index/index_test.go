package index

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

var server *pgtest.Server

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, pgtest.Options{}, func(s *pgtest.Server) { server = s }))
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

// migrated is a fresh database with the schema applied.
func migrated(t testing.TB) (string, *pgx.Conn) {
	t.Helper()
	url := server.Database(t)
	db := connect(t, url)
	if _, err := Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return url, db
}

func count(t testing.TB, db *pgx.Conn, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// rows are records [from, from+n) of origin, a minute apart from start, with varied
// outcomes (allowed, denied, failed) and a non-sharing kind every 10th.
func rows(origin string, from, n int, start time.Time) []Row {
	out := make([]Row, 0, n)
	for i := from; i < from+n; i++ {
		r := &audit.Record{Kind: audit.KindExchange, Time: start.Add(time.Duration(i-from) * time.Minute), Gateway: "gw",
			RequestID: fmt.Sprintf("req-%d", i), Client: "127.0.0.1:1",
			Consumer: audit.Consumer{Dept: []string{"dept-a", "dept-b"}[i%2], System: "sys", CertSerial: "01"},
			Provider: "pool", Route: "route", Resource: "res", Mode: "query", Method: "GET", Path: "/r",
			Agreement: []string{"agr-1", "agr-2", "agr-3"}[i%3], Purpose: "p", Status: 200,
			Bytes:    audit.Bytes{Request: 1, Response: int64(10 + i%7)},
			Decision: &audit.Decision{Allow: true, Reasons: []string{}, Revision: "rev"}}
		switch i % 10 {
		case 3:
			r.Decision = &audit.Decision{Allow: false, Reasons: []string{"no_agreement"}, Revision: "rev"}
			r.Error, r.Status = "denied", 403
		case 7:
			r.Error, r.Status = "upstream_unavailable", 502
		case 9:
			r = &audit.Record{Kind: audit.KindRefusal, Time: r.Time, Gateway: "gw", RequestID: r.RequestID, Client: "127.0.0.1:2",
				Error: "unauthenticated", Status: 401, Method: "GET", Path: "/x"}
		}
		b := r.Encode()
		parsed, err := audit.ParseRecord(b)
		if err != nil {
			panic(err)
		}
		out = append(out, NewRow(origin, uint64(i), b, audit.Hasher{}.HashLeaf(b), parsed, nil))
	}
	return out
}

// batch is rows [from, from+n) of origin as a shipper sends them; the first batch of the
// origin (from 0) creates its progress row.
func batch(origin string, from, n int, start time.Time) *Batch {
	b := &Batch{Rows: rows(origin, from, n, start),
		Progress: Progress{Origin: origin, Next: uint64(from + n), Range: [][]byte{}, CkptRoot: []byte{}}}
	if from == 0 {
		b.First = &Progress{Origin: origin, Range: [][]byte{}}
	}
	return b
}

// Migrating twice applies nothing the second time and leaves one row per migration; a
// database at another version than the binary's (older or newer) is refused.
func TestMigrateIdempotentAndVersionRefused(t *testing.T) {
	ctx := context.Background()
	url := server.Database(t)
	db := connect(t, url)
	if err := CheckSchema(ctx, db); err == nil {
		t.Fatal("an empty database passed the schema check")
	}
	first, err := Migrate(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != SchemaVersion() || first[len(first)-1] != SchemaVersion() {
		t.Fatalf("the first migration applied %v, want 1..%d", first, SchemaVersion())
	}
	again, err := Migrate(ctx, db)
	if err != nil || len(again) != 0 {
		t.Fatalf("the second migration applied %v, %v: want nothing", again, err)
	}
	if n := count(t, db, `SELECT count(*) FROM schema_migrations`); n != int64(SchemaVersion()) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, SchemaVersion())
	}
	if err := CheckSchema(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_a_newer_govgate.sql')`, SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	if err := CheckSchema(ctx, db); err == nil || !strings.Contains(err.Error(), "--migrate") {
		t.Fatalf("a database of a newer schema passed: %v", err)
	}
	if _, err := db.Exec(ctx, `DELETE FROM schema_migrations WHERE version >= $1`, SchemaVersion()); err != nil {
		t.Fatal(err)
	}
	if err := CheckSchema(ctx, db); err == nil {
		t.Fatal("a database of an older schema passed")
	}
}

// The monthly roll-up migration fills sharing_monthly from what sharing_daily held before
// it existed: an index shipped by an older govgate reports the same after --migrate.
func TestMonthlyMigrationFillsFromDaily(t *testing.T) {
	ctx := context.Background()
	db := connect(t, server.Database(t))
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, ms[0].sql); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now());
		INSERT INTO schema_migrations (version, name) VALUES (1, '0001_schema.sql')`); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The daily roll-up as a shipper of schema version 1 wrote it (its key: the texts).
	if _, err := tx.Exec(ctx, addDailyV1, rollupBefore5(rows("o", 0, 3000, start), dayOf)...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if applied, err := Migrate(ctx, db); err != nil || len(applied) != SchemaVersion()-1 {
		t.Fatalf("migrate from version 1: %v, %v", applied, err)
	}
	rollupsAgree(t, db)
	if count(t, db, `SELECT count(DISTINCT month) FROM sharing_monthly`) != 2 {
		t.Fatal("the monthly roll-up does not hold the two months of the daily one")
	}
}

// rollupsAgree checks the monthly roll-up is the daily one summed by month.
func rollupsAgree(t testing.TB, db *pgx.Conn) {
	t.Helper()
	diff := count(t, db, `SELECT count(*) FROM (
		(SELECT date_trunc('month', day)::date, origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome, sum(n), sum(bytes_released)
		 FROM sharing_daily GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
		 EXCEPT SELECT month, origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome, n, bytes_released FROM sharing_monthly)
		UNION ALL
		(SELECT month, origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome, n, bytes_released FROM sharing_monthly EXCEPT
		 SELECT date_trunc('month', day)::date, origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome, sum(n), sum(bytes_released)
		 FROM sharing_daily GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)) AS d`)
	if diff != 0 || count(t, db, `SELECT count(*) FROM sharing_monthly`) == 0 {
		t.Fatalf("the monthly roll-up differs from the daily one summed by month in %d rows", diff)
	}
}

// A second shipper of the same origin cannot write a batch twice, nor skip ahead: its
// batch is refused with ErrConflict and the index keeps one row per record. Two shippers
// copying the same batch at once over two connections (as the pipelined writer does):
// the second waits on the first's rows and is refused when they commit.
func TestSecondShipperRefused(t *testing.T) {
	ctx := context.Background()
	url, db := migrated(t)
	start := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	if err := Ship(ctx, db, batch("o", 0, 100, start)); err != nil {
		t.Fatal(err)
	}
	if err := Ship(ctx, db, batch("o", 0, 100, start)); !errors.Is(err, ErrConflict) {
		t.Fatalf("the first batch shipped again: %v, want ErrConflict", err)
	}
	if err := Ship(ctx, db, batch("o", 105, 10, start)); !errors.Is(err, ErrConflict) {
		t.Fatalf("a batch after a gap: %v, want ErrConflict", err)
	}
	other := connect(t, url)
	next := batch("o", 100, 50, start.Add(100*time.Minute))
	a, err := Begin(ctx, db, next)
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		p, err := Begin(ctx, other, batch("o", 100, 50, start.Add(100*time.Minute)))
		if err == nil {
			err = p.Commit(ctx)
		}
		second <- err
	}()
	select {
	case err := <-second:
		t.Fatalf("the second shipper's copy did not wait for the first's: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-second; !errors.Is(err, ErrConflict) {
		t.Fatalf("the second shipper of the same batch: %v, want ErrConflict", err)
	}
	if n, d := count(t, db, `SELECT count(*) FROM records`), count(t, db, `SELECT count(DISTINCT idx) FROM records`); n != 150 || d != 150 {
		t.Fatalf("%d rows, %d distinct indexes: want 150 and 150", n, d)
	}
	if p, err := LoadProgress(ctx, db, "o"); err != nil || p.Next != 150 {
		t.Fatalf("progress %+v, %v: want next 150", p, err)
	}
	if n := count(t, db, `SELECT sum(n) FROM sharing_daily`); n != count(t, db, `SELECT count(*) FROM records WHERE sharing`) {
		t.Fatalf("the roll-up counts %d: a refused batch was added to it", n)
	}
	// A batch copied but not committed leaves nothing.
	p, err := Begin(ctx, other, batch("o", 150, 10, start.Add(150*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	p.Rollback(ctx)
	if n := count(t, db, `SELECT count(*) FROM records`); n != 150 {
		t.Fatalf("a batch rolled back left rows: %d", n)
	}
}

// A batch whose records cross a month boundary (UTC) creates both months' partitions,
// each holding its records; a batch into a month already there creates nothing.
func TestPartitionsCreatedAcrossAMonth(t *testing.T) {
	ctx := context.Background()
	_, db := migrated(t)
	if n := count(t, db, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'records'::regclass`); n != 0 {
		t.Fatalf("a fresh index has %d partitions", n)
	}
	start := time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC) // 120 records: 60 in October, 60 in November
	if err := Ship(ctx, db, batch("o", 0, 120, start)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		part string
		n    int64
	}{{"records_202610", 60}, {"records_202611", 60}} {
		if n := count(t, db, `SELECT count(*) FROM `+c.part); n != c.n {
			t.Fatalf("%s holds %d records, want %d", c.part, n, c.n)
		}
	}
	if err := Ship(ctx, db, batch("o", 120, 10, start.Add(3*time.Hour))); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'records'::regclass`); n != 2 {
		t.Fatalf("%d partitions, want 2", n)
	}
	// Beijing time is 8 h ahead: October 31 23:00 UTC is November 1 in the reports, and
	// the monthly roll-up counts it in November.
	if n := count(t, db, `SELECT coalesce(sum(n), 0) FROM sharing_monthly WHERE month = '2026-10-01'`); n != 0 {
		t.Fatalf("the monthly roll-up counts %d records in October (Beijing)", n)
	}
	rollupsAgree(t, db)
}
