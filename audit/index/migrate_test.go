package index

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// A database at schema version 3 holding records (two origins' rows interleaved in time,
// written as its shipper did) is migrated to the latest: the time index becomes BRIN, the rows and roll-ups stay, reads by time
// give what they gave before; migrating again applies nothing. A database a newer govgate
// migrated is refused by this one, by --migrate too, with an error that says so.
func TestMigrationFromVersion3(t *testing.T) {
	ctx := context.Background()
	db := connect(t, server.Database(t))
	migrateTo(t, db, 3)
	start := time.Date(2026, 1, 31, 15, 0, 0, 0, time.UTC) // across a Beijing month's end
	for k := range 4 {
		for _, o := range []string{"gw-a", "gw-b"} {
			at := start.Add(time.Duration(k) * 50 * time.Minute)
			if o == "gw-b" {
				at = at.Add(-25 * time.Minute) // b's records interleave a's, and are older
			}
			shipBefore5(t, db, batch(o, k*50, 50, at))
		}
	}
	byTime := func() int64 {
		return count(t, db, `SELECT count(*) FROM records WHERE t >= '2026-01-31T16:00:00Z' AND t < '2026-01-31T17:10:00Z'`)
	}
	if err := CheckSchema(ctx, db); err == nil {
		t.Fatal("a database at version 3 passed this govgate's schema check")
	}
	before, rollBefore := byTime(), count(t, db, `SELECT sum(n) FROM sharing_monthly`)
	applied, err := Migrate(ctx, db)
	if err != nil || !slices.Equal(applied, []int{4, 5}) {
		t.Fatalf("migrate from version 3: %v, %v", applied, err)
	}
	if again, err := Migrate(ctx, db); err != nil || len(again) != 0 {
		t.Fatalf("migrating again: %v, %v", again, err)
	}
	if err := CheckSchema(ctx, db); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'records%' AND indexdef LIKE '%USING btree (t)%'`); n != 0 {
		t.Fatalf("%d B-tree indexes on t left after the migration", n)
	}
	if n := count(t, db, `SELECT count(*) FROM pg_indexes WHERE tablename = 'records' AND indexdef LIKE '%USING brin (t)%'`); n != 1 {
		t.Fatalf("%d BRIN indexes on records.t, want 1", n)
	}
	if _, err := db.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	if after := byTime(); after != before || before == 0 || count(t, db, `SELECT sum(n) FROM sharing_monthly`) != rollBefore {
		t.Fatalf("records by time: %d before the migration, %d after", before, after)
	}
	if err := Ship(ctx, db, batch("gw-a", 200, 50, start.Add(-time.Hour))); err != nil {
		t.Fatalf("shipping after the migration: %v", err)
	}
	// Refused: this govgate against a database of a newer schema, by --migrate too.
	if _, err := db.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES (6, '0006_from_a_newer_govgate.sql')`); err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{"check": CheckSchema(ctx, db), "migrate": func() error { _, err := Migrate(ctx, db); return err }()} {
		if err == nil || !strings.Contains(err.Error(), "newer than this govgate") {
			t.Fatalf("%s of a database at version 6: %v", what, err)
		}
	}
}
