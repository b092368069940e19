package index

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// randomGroup is a roll-up group of texts a hostile gateway could sign: any valid UTF-8
// but NUL (NewRow makes it U+FFFD), empty or not, short or past the key's stack buffer,
// with the characters a text encoding, an array literal or a SQL string treats apart.
func randomGroup(rnd *rand.Rand, alphabet []rune) rollupKey {
	text := func() string {
		n := []int{0, 1, 3, 17, 64, 300}[rnd.IntN(6)]
		if rnd.IntN(40) == 0 {
			n = 70000 // past 64 KiB: a length's third byte
		}
		var b strings.Builder
		for range n {
			b.WriteRune(alphabet[rnd.IntN(len(alphabet))])
		}
		return b.String()
	}
	return rollupKey{origin: text(), kind: text(), consumer: text(), provider: text(), pool: text(), resource: text(),
		agreement: text(), reason: text(), outcome: text()}
}

// moved is g with its texts' boundary moved: the first character of one text made the
// last of the text before (the concatenation unchanged), when there is one to move.
func moved(g rollupKey, rnd *rand.Rand) (rollupKey, bool) {
	ps := []*string{&g.origin, &g.kind, &g.consumer, &g.provider, &g.pool, &g.resource, &g.agreement, &g.reason, &g.outcome}
	i := 1 + rnd.IntN(len(ps)-1)
	if *ps[i] == "" {
		return g, false
	}
	_, n := utf8.DecodeRuneInString(*ps[i])
	*ps[i-1] += (*ps[i])[:n]
	*ps[i] = (*ps[i])[n:]
	return g, true
}

var (
	anyText = []rune("aZ09 -_./:'\"\\{},()\t\n\x01\x1f\x7f\u00e9\u0301\u4e2d\u534f\u8bae\u90e8\u95e8\uFFFD\uFEFF\U0001F600\U0010FFFF")
)

// The shipper's key (Go) equals the migration's (SQL) for any texts, in a database of any
// encoding an operator may have created it with — SQL_ASCII (Debian's cluster under the C
// locale), not only UTF8 — else a group's next records get a second row (a
// report counting it twice, verify --db failing). And no two groups whose texts
// concatenate alike share a key.
func TestGroupKeyMatchesSQLOnAnyTexts(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		encoding string
		alphabet []rune
	}{{"UTF8", anyText}, {"SQL_ASCII", anyText}} {
		t.Run(c.encoding, func(t *testing.T) {
			db := databaseIn(t, c.encoding)
			if _, err := Migrate(ctx, db); err != nil {
				t.Fatal(err)
			}
			rnd := rand.New(rand.NewPCG(1, uint64(len(c.encoding))))
			var groups []rollupKey
			for len(groups) < 400 {
				g := randomGroup(rnd, c.alphabet)
				groups = append(groups, g)
				if m, ok := moved(g, rnd); ok {
					groups = append(groups, m)
					if bytes.Equal(groupKey(&g), groupKey(&m)) {
						t.Fatalf("two groups whose texts concatenate alike have one key: %q, %q", g.agreement, m.agreement)
					}
				}
			}
			cols := make([][]string, 9)
			for _, g := range groups {
				for j, s := range [...]string{g.origin, g.kind, g.consumer, g.provider, g.pool, g.resource, g.agreement, g.reason, g.outcome} {
					cols[j] = append(cols[j], s)
				}
			}
			rows, err := db.Query(ctx, `SELECT rollup_group_key(a, b, c, d, e, f, g, h, i)
				FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) WITH ORDINALITY AS u(a, b, c, d, e, f, g, h, i, n) ORDER BY n`,
				cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8])
			if err != nil {
				t.Fatal(err)
			}
			keys, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
			if err != nil || len(keys) != len(groups) {
				t.Fatalf("%d keys of %d groups: %v", len(keys), len(groups), err)
			}
			seen := map[string]int{}
			for i := range groups {
				if k := groupKey(&groups[i]); !bytes.Equal(k, keys[i]) {
					t.Fatalf("group %d (%q): Go's key %x, SQL's %x", i, groups[i].resource, k, keys[i])
				}
				if j, ok := seen[string(keys[i])]; ok && groups[j] != groups[i] {
					t.Fatalf("groups %d and %d have one key", j, i)
				}
				seen[string(keys[i])] = i
			}
		})
	}
}

// databaseIn is a fresh database of the given encoding on the test server.
func databaseIn(t *testing.T, encoding string) *pgx.Conn {
	t.Helper()
	u, err := url.Parse(server.Database(t)) // dropped with the test
	if err != nil {
		t.Fatal(err)
	}
	admin := connect(t, u.String())
	name := strings.TrimPrefix(u.Path, "/") + "_" + strings.ToLower(encoding)
	if _, err := admin.Exec(context.Background(), fmt.Sprintf(`CREATE DATABASE %s TEMPLATE template0 ENCODING '%s' LC_COLLATE 'C' LC_CTYPE 'C'`, name, encoding)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)") })
	u.Path = "/" + name
	return connect(t, u.String())
}

// at4 is a database at schema version 4 holding records of two origins in three monthly
// partitions (January to March 2026), shipped as a shipper of that version did.
func at4(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	url := server.Database(t)
	db := connect(t, url)
	migrateTo(t, db, 4)
	start := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	for k := range 3 {
		for _, o := range []string{"gw-a", "gw-b"} {
			shipBefore5(t, db, batch(o, k*300, 300, start.AddDate(0, k, 0)))
		}
	}
	if n := count(t, db, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'records'::regclass`); n != 3 {
		t.Fatalf("%d partitions, want 3", n)
	}
	return url, db
}

// The records' BRIN index summarizes itself on every partition: those the migration found
// and those a shipper creates after it (a partition's index is cloned from the parent's).
func TestBRINAutosummarizeOnEveryPartition(t *testing.T) {
	ctx := context.Background()
	_, db := at4(t)
	if applied, err := Migrate(ctx, db); err != nil || !slices.Equal(applied, []int{5}) {
		t.Fatalf("migrate: %v, %v", applied, err)
	}
	if err := Ship(ctx, db, batch("gw-a", 900, 50, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))); err != nil {
		t.Fatal(err)
	}
	const partitionIndexes = `SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'records_t'::regclass AND %s`
	all := count(t, db, fmt.Sprintf(partitionIndexes, "true"))
	if on := count(t, db, fmt.Sprintf(partitionIndexes, `'autosummarize=on' = ANY(c.reloptions)`)); all != 4 || on != all {
		t.Fatalf("%d of %d partitions' BRIN indexes summarize themselves, want 4 of 4", on, all)
	}
}

// Careless operator: --migrate interrupted (its connection killed once 0005's statements
// have all run, while it waits to record the version) leaves the database at version 4 as
// it was — the md5 keys, no group_key column, no function — so that a shipper of version 4
// still ships; run again, it migrates.
func TestMigration5InterruptedLeavesVersion4(t *testing.T) {
	ctx := context.Background()
	url, db := at4(t)
	sums := func() string {
		return fmt.Sprint(count(t, db, `SELECT sum(n) FROM sharing_daily`), count(t, db, `SELECT count(*) FROM sharing_monthly`), count(t, db, `SELECT count(*) FROM records`))
	}
	before := sums()
	reader := connect(t, url)
	rtx, err := reader.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rtx.Exec(ctx, `LOCK TABLE schema_migrations IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	victim := connect(t, url)
	done := make(chan error, 1)
	go func() { _, err := Migrate(ctx, victim); done <- err }()
	// Wait until the migration has run 0005 and waits to insert its version.
	for i := 0; ; i++ {
		if count(t, db, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO schema_migrations%'`, victim.PgConn().PID()) == 1 {
			break
		}
		if i > 500 {
			t.Fatal("the migration never waited on the lock held")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := db.Exec(ctx, `SELECT pg_terminate_backend($1)`, victim.PgConn().PID()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("a migration whose connection was killed succeeded")
	}
	_ = rtx.Rollback(ctx)
	if v, err := currentVersion(ctx, db); err != nil || v != 4 {
		t.Fatalf("version %d, %v after the interrupted migration", v, err)
	}
	if n := count(t, db, `SELECT count(*) FROM information_schema.columns WHERE column_name = 'group_key'`) +
		count(t, db, `SELECT count(*) FROM pg_proc WHERE proname LIKE 'rollup_%'`); n != 0 {
		t.Fatalf("%d group_key columns and functions after the interrupted migration", n)
	}
	if after := sums(); after != before {
		t.Fatalf("roll-ups and records %s, %s before", after, before)
	}
	shipBefore5(t, db, batch("gw-a", 900, 100, time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC)))
	if applied, err := Migrate(ctx, db); err != nil || !slices.Equal(applied, []int{5}) {
		t.Fatalf("migrate again: %v, %v", applied, err)
	}
	rollupsAgree(t, db)
}

// Careless operator: a shipper of version 4 still running when the database is migrated
// to 5 (it checked the schema when it started) has its next batch refused whole — no
// record without its counts, no roll-up row without a key — not written beside the keys.
func TestOldShipperAfterMigration5Refused(t *testing.T) {
	ctx := context.Background()
	_, db := at4(t)
	if _, err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	records := count(t, db, `SELECT count(*) FROM records`)
	b := batch("gw-a", 900, 100, time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC))
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := copyRows(ctx, tx, b.Rows); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(addRollupMD5, "sharing_daily", "day"), rollupBefore5(b.Rows, dayOf)...)
		return err
	})
	if err == nil {
		t.Fatal("a shipper of version 4 wrote a batch into a database at version 5")
	}
	if n := count(t, db, `SELECT count(*) FROM records`); n != records {
		t.Fatalf("%d records after the refused batch, %d before", n, records)
	}
	if err := CheckSchema(ctx, db); err != nil {
		t.Fatal(err)
	}
	t.Logf("refused: %v", err)
}

// Tamperer before the migration: a roll-up row's text changed at version 4 gets the key of
// its changed texts (the migration cannot know better), so the key check passes — but the
// group's next records, shipped after it, go to a row of their own, and verify's recount
// from the records names both: the changed row counts records none has, the group's own
// row fewer than its records.
func TestTextChangedBeforeMigration5Found(t *testing.T) {
	ctx := context.Background()
	_, db := at4(t)
	tag, err := db.Exec(ctx, `UPDATE sharing_daily SET agreement = 'agr-forged' WHERE origin = 'gw-a' AND day = '2026-03-15' AND agreement = 'agr-1' AND consumer_dept = 'dept-b' AND outcome = 'allowed'`)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("change a text: %v, %v", tag, err)
	}
	if _, err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := Ship(ctx, db, batch("gw-a", 900, 60, time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC))); err != nil {
		t.Fatalf("shipping the changed row's group after the migration: %v", err)
	}
	v := &dbVerifier{origin: "gw-a"}
	if err := v.checkRollups(ctx, db); err != nil {
		t.Fatal(err)
	}
	var forged, own bool
	for _, f := range v.faults {
		forged = forged || strings.Contains(f.What, `agreement "agr-forged"`)
		own = own || strings.Contains(f.What, `2026-03-15 (kind exchange, consumer "dept-b", provider "", pool "pool", resource "res", agreement "agr-1", reason "", allowed)`)
	}
	if !forged || !own {
		t.Fatalf("verify's roll-up faults (the changed row found %v, its group's own %v): %v", forged, own, v.faults)
	}
}

// Careless operator: --migrate run while a shipper of version 4 is between its batch's
// COPY (a lock on records) and its roll-up upsert — with two writers a batch is always
// copied while the one before commits. The migration must not deadlock with it (and be
// aborted by PostgreSQL, every time it is run under load): it waits for the batch, which
// commits, and migrates its rows too.
func TestMigration5BesideAShipperMidBatch(t *testing.T) {
	ctx := context.Background()
	url, db := at4(t)
	shipper := connect(t, url)
	tx, err := shipper.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	b := batch("gw-a", 900, 100, time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC))
	if err := copyRows(ctx, tx, b.Rows); err != nil {
		t.Fatal(err)
	}
	operator := connect(t, url)
	migrated := make(chan error, 1)
	go func() { _, err := Migrate(ctx, operator); migrated <- err }()
	for i := 0; count(t, db, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`, operator.PgConn().PID()) == 0; i++ {
		if i > 500 {
			t.Fatal("the migration never waited for the shipper's batch")
		}
		time.Sleep(10 * time.Millisecond)
	}
	shipped := make(chan error, 1)
	go func() {
		_, err := tx.Exec(ctx, fmt.Sprintf(addRollupMD5, "sharing_daily", "day"), rollupBefore5(b.Rows, dayOf)...)
		if err == nil {
			err = tx.Commit(ctx)
		}
		shipped <- err
	}()
	if err := <-migrated; err != nil {
		t.Fatalf("migrating beside a shipper's open batch: %v", err)
	}
	if err := <-shipped; err != nil {
		t.Fatalf("the batch the migration waited for: %v", err)
	}
	if n := count(t, db, `SELECT count(*) FROM sharing_daily WHERE group_key IS DISTINCT FROM rollup_group_key(origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome)`); n != 0 {
		t.Fatalf("%d daily rows without their key", n)
	}
	if n := count(t, db, `SELECT count(*) FROM records WHERE idx >= 900`); n != 100 {
		t.Fatalf("%d records of the batch", n)
	}
}
