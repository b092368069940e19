package index

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// The shipper's group key (Go) is the migration's (SQL, rollup_group_key) for any texts —
// else a database migrated to 0005 would get a second row for each group it held, once the
// shipper adds to it — and texts that concatenate alike (a text's end moved into the next
// one) have different keys.
func TestGroupKeyMatchesSQL(t *testing.T) {
	ctx := context.Background()
	_, db := migrated(t)
	long := strings.Repeat("协议-agreement/", 20000)
	groups := []rollupKey{
		{origin: "govgate.test/gw-a", kind: "exchange", consumer: "110000-rensheju", resource: "hukou.basic", agreement: "agr-1", outcome: "allowed"},
		{origin: "govgate.test/gw-a", kind: "exchange", consumer: "110000-rensheju", resource: "hukou.basi", agreement: "cagr-1", outcome: "allowed"},
		{origin: "o", kind: "exchange", consumer: "部门\uFFFD", provider: "提供方", pool: "p'\"{},", resource: long, agreement: "a\\b", reason: "quota_exhausted", outcome: "denied"},
		{},
	}
	var keys [][]byte
	for i := range groups {
		g := &groups[i]
		var sql []byte
		if err := db.QueryRow(ctx, `SELECT rollup_group_key($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			g.origin, g.kind, g.consumer, g.provider, g.pool, g.resource, g.agreement, g.reason, g.outcome).Scan(&sql); err != nil {
			t.Fatal(err)
		}
		if k := groupKey(g); !bytes.Equal(k, sql) || len(k) != 32 {
			t.Fatalf("group %d: Go's key %x, SQL's %x", i, k, sql)
		}
		keys = append(keys, sql)
	}
	if bytes.Equal(keys[0], keys[1]) {
		t.Fatal("two groups whose texts concatenate alike have one key")
	}
}

// Hostile: a roll-up row holds the key of one group and the texts of another (two texts
// of one hash — or a row changed in the database). A batch of the group of that key must
// not add to the other group's row: the batch is refused whole (its records and its
// counts stay out together, the progress does not move), and the other row keeps its
// counts. A batch after it that does not touch the group is written as before.
func TestRollupKeyCollisionNeverMerges(t *testing.T) {
	ctx := context.Background()
	_, db := migrated(t)
	start := time.Date(2026, 3, 10, 1, 0, 0, 0, time.UTC)
	if err := Ship(ctx, db, batch("o", 0, 30, start)); err != nil {
		t.Fatal(err)
	}
	// The row of agr-1's group on the day now holds agr-9's texts under agr-1's key.
	tag, err := db.Exec(ctx, `UPDATE sharing_daily SET agreement = 'agr-9' WHERE agreement = 'agr-1' AND consumer_dept = 'dept-b' AND outcome = 'allowed'`)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("plant the collision: %v, %v", tag, err)
	}
	before := count(t, db, `SELECT n FROM sharing_daily WHERE agreement = 'agr-9'`)
	err = Ship(ctx, db, batch("o", 30, 30, start.Add(30*time.Minute)))
	if !errors.Is(err, ErrRollupKeyCollision) {
		t.Fatalf("a batch whose group's key another group's row holds: %v, want ErrRollupKeyCollision", err)
	}
	if n := count(t, db, `SELECT n FROM sharing_daily WHERE agreement = 'agr-9'`); n != before {
		t.Fatalf("the other group's row counts %d, %d before: the groups were merged", n, before)
	}
	if n := count(t, db, `SELECT count(*) FROM records`); n != 30 {
		t.Fatalf("%d records after the refused batch, want 30", n)
	}
	if p, err := LoadProgress(ctx, db, "o"); err != nil || p.Next != 30 {
		t.Fatalf("progress %+v, %v after the refused batch", p, err)
	}
	// Put back, the same batch is written and counted once.
	if _, err := db.Exec(ctx, `UPDATE sharing_daily SET agreement = 'agr-1' WHERE agreement = 'agr-9'`); err != nil {
		t.Fatal(err)
	}
	if err := Ship(ctx, db, batch("o", 30, 30, start.Add(30*time.Minute))); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT sum(n) FROM sharing_daily`); n != count(t, db, `SELECT count(*) FROM records WHERE sharing`) {
		t.Fatalf("the daily roll-up counts %d", n)
	}
	rollupsAgree(t, db)
}

// A database at schema version 4 holding rows (two origins, across a Beijing month's end)
// is migrated to 5: every roll-up row gets its group's key — the one the shipper computes,
// so that shipping more records of the same groups adds to the same rows, one row per
// period and group — the md5 indexes are gone, and the records' BRIN index summarizes
// itself. The counts stay.
func TestMigrationFromVersion4(t *testing.T) {
	ctx := context.Background()
	db := connect(t, server.Database(t))
	migrateTo(t, db, 4)
	start := time.Date(2026, 1, 31, 14, 0, 0, 0, time.UTC)
	for k := range 3 {
		for _, o := range []string{"gw-a", "gw-b"} {
			shipBefore5(t, db, batch(o, k*100, 100, start.Add(time.Duration(k)*100*time.Minute)))
		}
	}
	sums := func() []int64 {
		return []int64{count(t, db, `SELECT sum(n) FROM sharing_daily`), count(t, db, `SELECT sum(bytes_released) FROM sharing_daily`),
			count(t, db, `SELECT sum(n) FROM sharing_monthly`), count(t, db, `SELECT sum(bytes_released) FROM sharing_monthly`),
			count(t, db, `SELECT count(*) FROM sharing_daily`), count(t, db, `SELECT count(*) FROM sharing_monthly`)}
	}
	before := sums()
	if applied, err := Migrate(ctx, db); err != nil || !slices.Equal(applied, []int{5}) {
		t.Fatalf("migrate from version 4: %v, %v", applied, err)
	}
	if after := sums(); !slices.Equal(before, after) || before[0] == 0 {
		t.Fatalf("roll-ups before the migration %v, after %v", before, after)
	}
	for _, c := range []struct{ what, sql string }{
		{"md5 indexes", `SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'sharing_%' AND indexdef LIKE '%md5%'`},
		{"rows without their group's key", `SELECT count(*) FROM sharing_daily WHERE group_key IS DISTINCT FROM rollup_group_key(origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome)`},
	} {
		if n := count(t, db, c.sql); n != 0 {
			t.Fatalf("%d %s after the migration", n, c.what)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'records_t'::regclass AND NOT coalesce('autosummarize=on' = ANY(c.reloptions), false)`); n != 0 {
		t.Fatalf("%d partitions' BRIN indexes do not summarize themselves", n)
	}
	// The same groups again, in the same days and months, by this shipper.
	for _, o := range []string{"gw-a", "gw-b"} {
		if err := Ship(ctx, db, batch(o, 300, 100, start.Add(150*time.Minute))); err != nil {
			t.Fatalf("shipping after the migration: %v", err)
		}
	}
	for _, c := range []struct{ table, period string }{{"sharing_daily", "day"}, {"sharing_monthly", "month"}} {
		if n := count(t, db, `SELECT count(*) FROM (SELECT 1 FROM `+c.table+` GROUP BY `+c.period+`, origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome HAVING count(*) > 1) AS d`); n != 0 {
			t.Fatalf("%s holds %d groups in two rows: the shipper's keys are not the migration's", c.table, n)
		}
		if n := count(t, db, `SELECT sum(n) FROM `+c.table); n != count(t, db, `SELECT count(*) FROM records WHERE sharing`) {
			t.Fatalf("%s counts %d", c.table, n)
		}
	}
	if n, sum := count(t, db, `SELECT count(*) FROM sharing_daily`), count(t, db, `SELECT sum(n) FROM sharing_daily`); n != before[4] || sum <= before[0] {
		t.Fatalf("after shipping the same groups on the same days the daily roll-up has %d rows counting %d, %d counting %d before", n, sum, before[4], before[0])
	}
	rollupsAgree(t, db)
}

// A shipper killed after its batch's roll-up upsert and before the commit (its connection
// gone) leaves neither the records nor their counts; the batch shipped again is counted
// once. The roll-ups are written in the transaction of the records they count.
func TestKilledBetweenRollupAndCommitCountsNothing(t *testing.T) {
	ctx := context.Background()
	url, db := migrated(t)
	start := time.Date(2026, 3, 10, 1, 0, 0, 0, time.UTC)
	if err := Ship(ctx, db, batch("o", 0, 100, start)); err != nil {
		t.Fatal(err)
	}
	victim := connect(t, url)
	p, err := Begin(ctx, victim, batch("o", 100, 100, start.Add(100*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if err := addRollups(ctx, p.tx, p.b.Rows); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `SELECT pg_terminate_backend($1)`, victim.PgConn().PID()); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(ctx); err == nil {
		t.Fatal("a batch committed over a connection that was killed")
	}
	counted := func() (int64, int64, int64) {
		return count(t, db, `SELECT count(*) FROM records`), count(t, db, `SELECT coalesce(sum(n), 0) FROM sharing_daily`),
			count(t, db, `SELECT count(*) FROM records WHERE sharing`)
	}
	if n, rolled, sharing := counted(); n != 100 || rolled != sharing {
		t.Fatalf("after the kill: %d records, the roll-up counts %d of %d sharing records", n, rolled, sharing)
	}
	if err := Ship(ctx, db, batch("o", 100, 100, start.Add(100*time.Minute))); err != nil {
		t.Fatal(err)
	}
	if n, rolled, sharing := counted(); n != 200 || rolled != sharing {
		t.Fatalf("shipped again: %d records, the roll-up counts %d of %d sharing records", n, rolled, sharing)
	}
	rollupsAgree(t, db)
}
