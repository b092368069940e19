package index

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"time"

	"github.com/jackc/pgx/v5"
)

// What a shipper of an older schema wrote, for the migration tests: they fill a database
// at that version with rows as that shipper did, then migrate it.

// addRollupMD5 is the roll-up upsert of schema versions 3 and 4: unique on md5(...)s.
const addRollupMD5 = `
INSERT INTO %[1]s AS d (%[2]s, origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome, n, bytes_released)
SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[])
ON CONFLICT (%[2]s, origin, kind, (md5(consumer_dept)), (md5(provider_dept)), (md5(pool)), (md5(resource)), (md5(agreement)), (md5(reason)), outcome)
DO UPDATE SET n = d.n + EXCLUDED.n, bytes_released = d.bytes_released + EXCLUDED.bytes_released`

// addDailyV1 is the daily roll-up's upsert of schema version 1 (its key: the texts).
var addDailyV1 = strings.Replace(fmt.Sprintf(addRollupMD5, "sharing_daily", "day"),
	"(md5(consumer_dept)), (md5(provider_dept)), (md5(pool)), (md5(resource)), (md5(agreement)), (md5(reason))",
	"consumer_dept, provider_dept, pool, resource, agreement, reason", 1)

// rollupBefore5 is rollup's arrays without the group keys, as before migration 0005.
func rollupBefore5(rows []Row, period func(*Row) time.Time) []any {
	args, _ := rollup(rows, period)
	return append(args[:1:1], args[2:]...)
}

// shipBefore5 writes a batch as a shipper of schema version 3 or 4 did: the rows copied,
// the roll-ups upserted on their md5 key, the progress, in one transaction.
func shipBefore5(t testing.TB, db *pgx.Conn, b *Batch) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := copyRows(ctx, tx, b.Rows); err != nil {
			return err
		}
		for _, r := range []struct {
			table, period string
			of            func(*Row) time.Time
		}{{"sharing_daily", "day", dayOf}, {"sharing_monthly", "month", monthOfDay}} {
			if _, err := tx.Exec(ctx, fmt.Sprintf(addRollupMD5, r.table, r.period), rollupBefore5(b.Rows, r.of)...); err != nil {
				return err
			}
		}
		p := b.Progress
		_, err := tx.Exec(ctx, `INSERT INTO ship_progress (origin, next_idx, range, ckpt_size, ckpt_root) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (origin) DO UPDATE SET next_idx = $2`, p.Origin, int64(p.Next), p.Range, int64(p.CkptSize), p.CkptRoot)
		return err
	})
	if err != nil {
		t.Fatalf("ship as before migration 0005: %v", err)
	}
}

// migrateTo brings a fresh database to schema version n as --migrate of that version did,
// and returns every migration this govgate has.
func migrateTo(t *testing.T, db *pgx.Conn, n int) []migration {
	t.Helper()
	ctx := context.Background()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:n] {
		if _, err := db.Exec(ctx, m.sql); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			t.Fatal(err)
		}
	}
	return ms
}
