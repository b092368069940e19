package index

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Progress is how far the shipper of one origin has come: records [.., Next) are in the
// index, Range is the compact range of the first Next records (its hashes), and the last
// checkpoint it verified.
type Progress struct {
	Origin   string
	Next     uint64
	Range    [][]byte
	CkptSize uint64
	CkptRoot []byte
}

// Checkpoint is a signed checkpoint as stored.
type Checkpoint struct {
	Size uint64
	Root []byte
	Note []byte
}

// Batch is what one transaction ships: rows of one origin, in index order, the checkpoint
// they complete (if any), and the progress after them.
type Batch struct {
	Rows        []Row
	Checkpoints []Checkpoint
	Progress    Progress
	// First is set on the first batch of an origin: where its records begin in the index
	// and the compact range of the records before (empty at 0).
	First *Progress
}

// ErrConflict is a batch that does not begin where the origin's progress row says: another
// shipper of the same origin went ahead. The batch is not written.
var ErrConflict = errors.New("another shipper advanced this origin")

// addRollup adds a batch's sharing rows, summed by group, to a roll-up table (daily or
// monthly), one statement each. A group adds to the row of its period and key only when
// every text is the group's: a group whose key another group's row holds (two texts of
// one hash) adds to no row, which addRollups refuses; it is never merged into the other.
const addRollup = `
INSERT INTO %[1]s AS d (%[2]s, group_key, origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome, n, bytes_released)
SELECT * FROM unnest($1::date[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::bigint[])
ON CONFLICT (%[2]s, group_key)
DO UPDATE SET n = d.n + EXCLUDED.n, bytes_released = d.bytes_released + EXCLUDED.bytes_released
WHERE (d.origin, d.kind, d.consumer_dept, d.provider_dept, d.pool, d.resource, d.agreement, d.reason, d.outcome)
    = (EXCLUDED.origin, EXCLUDED.kind, EXCLUDED.consumer_dept, EXCLUDED.provider_dept, EXCLUDED.pool, EXCLUDED.resource, EXCLUDED.agreement, EXCLUDED.reason, EXCLUDED.outcome)`

var (
	addDaily   = fmt.Sprintf(addRollup, "sharing_daily", "day")
	addMonthly = fmt.Sprintf(addRollup, "sharing_monthly", "month")
)

// ErrRollupKeyCollision is a batch with a roll-up group whose key a row of another group
// holds: the batch is not written (its records and counts stay out together), and the
// shipper stops rather than count the group in another's row.
var ErrRollupKeyCollision = errors.New("a roll-up group's key is held by another group's row")

// addRollups adds the rows to the daily and the monthly roll-up, summed in memory first
// so that each group of the batch is one row of each upsert. Every group must insert or
// add to its own row: one that did neither shares its key with another group's row.
func addRollups(ctx context.Context, tx pgx.Tx, rows []Row) error {
	for _, r := range []struct {
		what, sql string
		period    func(*Row) time.Time
	}{{"daily", addDaily, dayOf}, {"monthly", addMonthly, monthOfDay}} {
		args, groups := rollup(rows, r.period)
		tag, err := tx.Exec(ctx, r.sql, args...)
		if err != nil {
			return fmt.Errorf("%s roll-up: %w", r.what, err)
		}
		if n := tag.RowsAffected(); n != int64(groups) {
			return fmt.Errorf("%s roll-up: %w: %d of %d groups written", r.what, ErrRollupKeyCollision, n, groups)
		}
	}
	return nil
}

// Ship writes one batch in one transaction: Begin, then Commit.
func Ship(ctx context.Context, db *pgx.Conn, b *Batch) error {
	p, err := Begin(ctx, db, b)
	if err != nil {
		return err
	}
	return p.Commit(ctx)
}

// Pending is a batch whose rows are copied in an open transaction that nothing has
// checked yet: Commit checks it against the origin's progress and commits, Rollback drops
// it. The rows are invisible to everyone else until Commit.
type Pending struct {
	tx pgx.Tx
	b  *Batch
}

// Begin opens the batch's transaction, creates the months' partitions it needs and copies
// the rows (COPY, binary). It does not touch the origin's progress row, so that batches
// of one origin can be copied over several connections at once while the one before
// commits; Commit, called in batch order, is what decides whether they are written.
// A row copied twice (another shipper of the origin copying the same records) is
// ErrConflict.
func Begin(ctx context.Context, db *pgx.Conn, b *Batch) (*Pending, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("ship %d records of %s: %w", len(b.Rows), b.Progress.Origin, err)
	}
	if err := copyRows(ctx, tx, b.Rows); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("ship %d records of %s: %w", len(b.Rows), b.Progress.Origin, err)
	}
	return &Pending{tx: tx, b: b}, nil
}

// uniqueViolation is PostgreSQL's SQLSTATE for a duplicate key.
const uniqueViolation = "23505"

func copyRows(ctx context.Context, tx pgx.Tx, rows []Row) error {
	if err := ensurePartitions(ctx, tx, rows); err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	_, err := tx.Conn().PgConn().CopyFrom(ctx, copyStream(rows), copySQL)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		return fmt.Errorf("%w: copy: %w", ErrConflict, err)
	}
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	return nil
}

// Commit locks the origin's progress row and checks the batch begins where it says, adds
// the rows to the roll-ups, writes the checkpoints and the progress row, and commits. A
// crash at any point leaves all of the batch or none; a batch shipped twice (two shippers
// of one origin) is refused by the progress check (ErrConflict), and (origin, idx) stays
// unique. On error the transaction is rolled back.
func (p *Pending) Commit(ctx context.Context) error {
	b := p.b
	err := commitBatch(ctx, p.tx, b)
	if err == nil {
		err = p.tx.Commit(ctx)
	} else {
		_ = p.tx.Rollback(context.WithoutCancel(ctx))
	}
	if err != nil {
		return fmt.Errorf("ship %d records of %s: %w", len(b.Rows), b.Progress.Origin, err)
	}
	return nil
}

// Rollback drops a batch that will not be committed.
func (p *Pending) Rollback(ctx context.Context) {
	_ = p.tx.Rollback(context.WithoutCancel(ctx))
}

func commitBatch(ctx context.Context, tx pgx.Tx, b *Batch) error {
	begin := b.Progress.Next - uint64(len(b.Rows))
	var next int64
	err := tx.QueryRow(ctx, `SELECT next_idx FROM ship_progress WHERE origin = $1 FOR UPDATE`, b.Progress.Origin).Scan(&next)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if b.First == nil {
			return fmt.Errorf("%w: its progress row is gone", ErrConflict)
		}
	case err != nil:
		return err
	case uint64(next) != begin:
		return fmt.Errorf("%w: the batch begins at %d, the index holds records up to %d", ErrConflict, begin, next)
	}
	if len(b.Rows) > 0 {
		if err := addRollups(ctx, tx, b.Rows); err != nil {
			return err
		}
	}
	if f := b.First; f != nil {
		if _, err := tx.Exec(ctx, `INSERT INTO origins (origin, first_idx, first_range) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			f.Origin, int64(f.Next), f.Range); err != nil {
			return fmt.Errorf("origin: %w", err)
		}
	}
	for _, c := range b.Checkpoints {
		if _, err := tx.Exec(ctx, `INSERT INTO checkpoints (origin, size, root, note) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			b.Progress.Origin, int64(c.Size), c.Root, c.Note); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	p := b.Progress
	_, err = tx.Exec(ctx, `INSERT INTO ship_progress (origin, next_idx, range, ckpt_size, ckpt_root) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (origin) DO UPDATE SET next_idx = $2, range = $3, ckpt_size = $4, ckpt_root = $5, updated = now()`,
		p.Origin, int64(p.Next), p.Range, int64(p.CkptSize), p.CkptRoot)
	return err
}

// LoadProgress returns the shipper's progress for origin, or nil before its first batch.
func LoadProgress(ctx context.Context, db *pgx.Conn, origin string) (*Progress, error) {
	p := &Progress{Origin: origin}
	var next, size int64
	err := db.QueryRow(ctx, `SELECT next_idx, range, ckpt_size, ckpt_root FROM ship_progress WHERE origin = $1`, origin).
		Scan(&next, &p.Range, &size, &p.CkptRoot)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load the progress of %s: %w", origin, err)
	}
	p.Next, p.CkptSize = uint64(next), uint64(size)
	return p, nil
}

// Checkpoints returns the checkpoints stored for origin, by size.
func Checkpoints(ctx context.Context, db *pgx.Conn, origin string) ([]Checkpoint, error) {
	rows, err := db.Query(ctx, `SELECT size, root, note FROM checkpoints WHERE origin = $1 ORDER BY size`, origin)
	if err != nil {
		return nil, fmt.Errorf("checkpoints of %s: %w", origin, err)
	}
	var out []Checkpoint
	var size int64
	var c Checkpoint
	_, err = pgx.ForEachRow(rows, []any{&size, &c.Root, &c.Note}, func() error {
		c.Size = uint64(size)
		out = append(out, c)
		c = Checkpoint{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoints of %s: %w", origin, err)
	}
	return out, nil
}

// CheckpointRoots returns the stored roots of origin's checkpoints of the given sizes.
func CheckpointRoots(ctx context.Context, db *pgx.Conn, origin string, sizes []int64) (map[uint64][]byte, error) {
	rows, err := db.Query(ctx, `SELECT size, root FROM checkpoints WHERE origin = $1 AND size = ANY($2)`, origin, sizes)
	if err != nil {
		return nil, fmt.Errorf("checkpoints of %s: %w", origin, err)
	}
	out := map[uint64][]byte{}
	var size int64
	var root []byte
	_, err = pgx.ForEachRow(rows, []any{&size, &root}, func() error {
		out[uint64(size)] = root
		root = nil
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoints of %s: %w", origin, err)
	}
	return out, nil
}

// partitionLock serialises the creation of partitions among shippers of several origins.
const partitionLock = 0x676f7670617274 // "govpart"

// ensurePartitions creates the monthly partitions the rows fall in, if missing.
func ensurePartitions(ctx context.Context, tx pgx.Tx, rows []Row) error {
	seen := map[time.Time]bool{}
	for i := range rows {
		m := monthOf(rows[i].Time)
		if seen[m] {
			continue
		}
		seen[m] = true
		if exists, err := partitionExists(ctx, tx, m); err != nil {
			return err
		} else if exists {
			continue
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(partitionLock)); err != nil {
			return err
		}
		// Looked for again under the lock: a shipper that created it while this one waited
		// has set its index, and altering that index again would wait, holding the lock,
		// for every report that read the month (ALTER INDEX … SET takes ACCESS EXCLUSIVE).
		if exists, err := partitionExists(ctx, tx, m); err != nil {
			return err
		} else if exists {
			continue
		}
		sql := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF records FOR VALUES FROM ('%s') TO ('%s')`,
			partitionName(m), m.Format(time.RFC3339), m.AddDate(0, 1, 0).Format(time.RFC3339))
		if _, err := tx.Exec(ctx, sql); err != nil {
			return fmt.Errorf("create partition %s: %w", partitionName(m), err)
		}
		if err := summarizeItself(ctx, tx, partitionName(m)); err != nil {
			return fmt.Errorf("create partition %s: its time index: %w", partitionName(m), err)
		}
	}
	return nil
}

// partitionExists reports whether month m's partition is there, committed as this
// statement's snapshot sees it. It reads pg_class rather than to_regclass: a name lookup
// goes through the backend's catalog cache, which keeps "no such table" from this
// transaction's first look until the backend takes a relation lock, so a shipper that
// waited for the partition lock would still not see a partition created meanwhile.
// Created unqualified, a partition is in the current schema.
func partitionExists(ctx context.Context, tx pgx.Tx, m time.Time) (bool, error) {
	var exists bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relname = $1 AND n.nspname = current_schema())`, partitionName(m)).Scan(&exists)
	return exists, err
}

// summarizeItself sets autosummarize on the time index of the partition (the index
// PostgreSQL cloned from records_t as it created the partition), as migration 0005 did on
// the partitions there were: the parent's own option cannot be set, and a new
// partition's index is cloned without it.
func summarizeItself(ctx context.Context, tx pgx.Tx, partition string) error {
	var ix string // regclass as text: quoted where it must be
	err := tx.QueryRow(ctx, `SELECT i.inhrelid::regclass::text FROM pg_inherits i
		JOIN pg_index x ON x.indexrelid = i.inhrelid
		JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_am a ON a.oid = c.relam
		WHERE i.inhparent = 'records_t'::regclass AND x.indrelid = $1::regclass AND a.amname = 'brin'`, partition).Scan(&ix)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // a time index of before migration 0004 (a B-tree: the tests' old schemas)
	}
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "ALTER INDEX "+ix+" SET (autosummarize = on)")
	return err
}

// monthOf is the first instant of t's month in UTC: partitions are months of UTC.
func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func partitionName(month time.Time) string { return "records_" + month.Format("200601") }

// Alert records what the shipper refused.
func Alert(ctx context.Context, db *pgx.Conn, origin, kind string, idx *uint64, detail string) error {
	var i *int64
	if idx != nil {
		v := int64(*idx)
		i = &v
	}
	_, err := db.Exec(ctx, `INSERT INTO alerts (origin, kind, idx, detail) VALUES ($1, $2, $3, $4)`, origin, kind, i, detail)
	if err != nil {
		return fmt.Errorf("record an alert for %s: %w", origin, err)
	}
	return nil
}

// AlertRow is one row of the alerts table.
type AlertRow struct {
	At     time.Time
	Origin string
	Kind   string
	Index  *int64
	Detail string
}

// Alerts returns the alerts of origin ("" for all), oldest first.
func Alerts(ctx context.Context, db *pgx.Conn, origin string) ([]AlertRow, error) {
	rows, err := db.Query(ctx, `SELECT at, origin, kind, idx, detail FROM alerts WHERE $1 = '' OR origin = $1 ORDER BY id`, origin)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AlertRow, error) {
		var a AlertRow
		err := r.Scan(&a.At, &a.Origin, &a.Kind, &a.Index, &a.Detail)
		return a, err
	})
}

// LeafHashes calls fn with the stored leaf hash of each record of origin in [from, to), in
// index order.
func LeafHashes(ctx context.Context, db *pgx.Conn, origin string, from, to uint64, fn func(idx uint64, leaf []byte) error) error {
	rows, err := db.Query(ctx, `SELECT idx, leaf_hash FROM records WHERE origin = $1 AND idx >= $2 AND idx < $3 ORDER BY idx`,
		origin, int64(from), int64(to))
	if err != nil {
		return fmt.Errorf("leaf hashes of %s: %w", origin, err)
	}
	var idx int64
	var leaf []byte
	_, err = pgx.ForEachRow(rows, []any{&idx, &leaf}, func() error { return fn(uint64(idx), leaf) })
	return err
}

type rollupKey struct {
	day                                                                          time.Time
	origin, kind, consumer, provider, pool, resource, agreement, reason, outcome string
}

func dayOf(r *Row) time.Time { return r.Day }

// monthOfDay is the first day of the Beijing month of r's day: the month a report counts.
func monthOfDay(r *Row) time.Time {
	return time.Date(r.Day.Year(), r.Day.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// rollup sums the sharing rows by period (period(row): day or month) and group, as the
// unnest arrays of addRollup, and returns how many groups they hold.
func rollup(rows []Row, period func(*Row) time.Time) ([]any, int) {
	type sum struct{ n, bytes int64 }
	sums := map[rollupKey]*sum{}
	var order []rollupKey
	for i := range rows {
		r := &rows[i]
		if !r.Sharing {
			continue
		}
		k := rollupKey{period(r), r.Origin, r.Kind, r.ConsumerDept, r.ProviderDept, r.Pool, r.Resource, r.Agreement, r.Reason, r.Outcome}
		s := sums[k]
		if s == nil {
			s = &sum{}
			sums[k] = s
			order = append(order, k)
		}
		s.n++
		if r.Outcome == "allowed" {
			s.bytes += r.BytesResponse
		}
	}
	days := make([]time.Time, len(order))
	keys := make([][]byte, len(order))
	texts := make([][]string, 9)
	for i := range texts {
		texts[i] = make([]string, len(order))
	}
	ns, bs := make([]int64, len(order)), make([]int64, len(order))
	for i := range order {
		k := &order[i]
		days[i], keys[i] = k.day, groupKey(k)
		for j, v := range [...]string{k.origin, k.kind, k.consumer, k.provider, k.pool, k.resource, k.agreement, k.reason, k.outcome} {
			texts[j][i] = v
		}
		ns[i], bs[i] = sums[*k].n, sums[*k].bytes
	}
	cols := make([]any, 0, 13)
	cols = append(cols, days, keys)
	for j := range texts {
		cols = append(cols, texts[j])
	}
	cols = append(cols, ns, bs)
	return cols, len(order)
}
