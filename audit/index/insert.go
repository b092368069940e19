package index

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
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

// PrepareConn creates the session's staging table; once per connection that ships.
func PrepareConn(ctx context.Context, db *pgx.Conn) error {
	_, err := db.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS ship_stage (LIKE records INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`)
	if err != nil {
		return fmt.Errorf("prepare the staging table: %w", err)
	}
	return nil
}

// insertRecords moves the staged rows into records, skipping those already there, and adds
// exactly the ones inserted to the daily roll-up.
const insertRecords = `
WITH ins AS (
	INSERT INTO records SELECT * FROM ship_stage ON CONFLICT DO NOTHING
	RETURNING day, origin, kind, sharing, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome, bytes_response
)
INSERT INTO sharing_daily AS d (day, origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome, n, bytes_released)
SELECT day, origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome,
       count(*), coalesce(sum(bytes_response) FILTER (WHERE outcome = 'allowed'), 0)
FROM ins WHERE sharing
GROUP BY day, origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome
ON CONFLICT (day, origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome)
DO UPDATE SET n = d.n + EXCLUDED.n, bytes_released = d.bytes_released + EXCLUDED.bytes_released`

// Ship writes one batch in one transaction: the months' partitions it needs, the rows
// (COPY into the staging table, then INSERT ... ON CONFLICT DO NOTHING), the roll-up, the
// checkpoint and the progress row. A crash at any point leaves all of it or none.
func Ship(ctx context.Context, db *pgx.Conn, b *Batch) error {
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := ensurePartitions(ctx, tx, b.Rows); err != nil {
			return err
		}
		if len(b.Rows) > 0 {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"ship_stage"}, columns, pgx.CopyFromSlice(len(b.Rows), func(i int) ([]any, error) {
				return b.Rows[i].values(), nil
			}))
			if err != nil {
				return fmt.Errorf("copy: %w", err)
			}
			if _, err := tx.Exec(ctx, insertRecords); err != nil {
				return fmt.Errorf("insert: %w", err)
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
		_, err := tx.Exec(ctx, `INSERT INTO ship_progress (origin, next_idx, range, ckpt_size, ckpt_root) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (origin) DO UPDATE SET next_idx = $2, range = $3, ckpt_size = $4, ckpt_root = $5, updated = now()`,
			p.Origin, int64(p.Next), p.Range, int64(p.CkptSize), p.CkptRoot)
		return err
	})
	if err != nil {
		return fmt.Errorf("ship %d records of %s: %w", len(b.Rows), b.Progress.Origin, err)
	}
	return nil
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
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, partitionName(m)).Scan(&exists); err != nil {
			return err
		}
		if exists {
			continue
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(partitionLock)); err != nil {
			return err
		}
		sql := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF records FOR VALUES FROM ('%s') TO ('%s')`,
			partitionName(m), m.Format(time.RFC3339), m.AddDate(0, 1, 0).Format(time.RFC3339))
		if _, err := tx.Exec(ctx, sql); err != nil {
			return fmt.Errorf("create partition %s: %w", partitionName(m), err)
		}
	}
	return nil
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
