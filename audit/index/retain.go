package index

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/jackc/pgx/v5"
)

// DefaultRetention is how long the index keeps records: six months and more (GB/T 22239
// asks for at least six months of audit records), as the gateway's own default.
const DefaultRetention = 180 * 24 * time.Hour

// RetainOptions configure Retain.
type RetainOptions struct {
	// Retention: a month whose every record is older than this is dropped (default
	// DefaultRetention). It may not be less than GatewayRetention.
	Retention time.Duration
	// GatewayRetention is the gateway's audit.retention: the index never keeps less.
	GatewayRetention time.Duration
	// ExportDir receives, before a month is dropped, one export per origin:
	// <ExportDir>/<partition>/<origin, path-escaped>, in the layout of an audit log.
	ExportDir string
	// Keys are the audit public keys of every origin, which the exports must verify with.
	Keys *audit.KeySet
	Now  time.Time
}

// Dropped is one month dropped, with where its exports are.
type Dropped struct {
	Partition string
	Exports   map[string]string // origin → export directory
}

// Retain drops the monthly partitions older than the retention, oldest first, each only
// after every origin's records in it have been exported (with the records up to the next
// checkpoint, so that the export's end is signed) and the export verified by audit.Verify
// against the keys. A month that cannot be exported and verified stays, and Retain stops.
// The daily roll-up is kept: reports still count the dropped months.
func Retain(ctx context.Context, db *pgx.Conn, opts RetainOptions) ([]Dropped, error) {
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Retention < opts.GatewayRetention {
		return nil, fmt.Errorf("retention %s is less than the gateway's own (%s): the index never keeps less than the gateway", opts.Retention, opts.GatewayRetention)
	}
	if opts.ExportDir == "" || opts.Keys == nil {
		return nil, errors.New("retention needs an export directory and the audit keys")
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	months, err := partitions(ctx, db)
	if err != nil {
		return nil, err
	}
	cutoff := opts.Now.Add(-opts.Retention)
	var out []Dropped
	for _, m := range months {
		if m.AddDate(0, 1, 0).After(cutoff) {
			break
		}
		d, err := retainMonth(ctx, db, m, opts)
		if err != nil {
			return out, fmt.Errorf("retention of %s: %w (the partition is kept)", partitionName(m), err)
		}
		out = append(out, d)
	}
	return out, nil
}

// partitions returns the months of the records partitions, oldest first.
func partitions(ctx context.Context, db *pgx.Conn) ([]time.Time, error) {
	rows, err := db.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'records'::regclass ORDER BY c.relname`)
	if err != nil {
		return nil, fmt.Errorf("list partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list partitions: %w", err)
	}
	out := make([]time.Time, 0, len(names))
	for _, n := range names {
		m, err := time.Parse("records_200601", n)
		if err != nil {
			return nil, fmt.Errorf("partition %s: not a month", n)
		}
		out = append(out, m)
	}
	return out, nil
}

// floorMove is where an origin's records begin after a month is dropped.
type floorMove struct {
	origin string
	next   uint64
	rng    [][]byte
}

func retainMonth(ctx context.Context, db *pgx.Conn, month time.Time, opts RetainOptions) (Dropped, error) {
	part := partitionName(month)
	d := Dropped{Partition: part, Exports: map[string]string{}}
	rows, err := db.Query(ctx, fmt.Sprintf(`SELECT origin, max(idx) FROM %s GROUP BY origin ORDER BY origin`, part))
	if err != nil {
		return d, err
	}
	type span struct {
		Origin string
		Last   int64
	}
	spans, err := pgx.CollectRows(rows, pgx.RowToStructByPos[span])
	if err != nil {
		return d, err
	}
	var moves []floorMove
	for _, s := range spans {
		out := filepath.Join(opts.ExportDir, part, url.PathEscape(s.Origin))
		if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
			return d, err
		}
		mv, err := exportOrigin(ctx, db, s.Origin, uint64(s.Last), out, opts.Keys)
		if err != nil {
			return d, fmt.Errorf("origin %s: %w", s.Origin, err)
		}
		moves = append(moves, mv)
		d.Exports[s.Origin] = out
	}
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DROP TABLE "+part); err != nil {
			return err
		}
		for _, mv := range moves {
			// Records of the next month written before the month's last one (appends in
			// flight at midnight) are in the export too, and go with it.
			if _, err := tx.Exec(ctx, `DELETE FROM records WHERE origin = $1 AND idx < $2`, mv.origin, int64(mv.next)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO origins (origin, first_idx, first_range) VALUES ($1, $2, $3)
				ON CONFLICT (origin) DO UPDATE SET first_idx = $2, first_range = $3`, mv.origin, int64(mv.next), mv.rng); err != nil {
				return err
			}
		}
		return nil
	})
	return d, err
}

// exportOrigin writes the records of origin from its first in the index to the first
// checkpoint at or after last+1 into out, verifies the export with keys, and returns the
// floor after last.
func exportOrigin(ctx context.Context, db *pgx.Conn, origin string, last uint64, out string, keys *audit.KeySet) (floorMove, error) {
	var first int64
	var hashes [][]byte
	err := db.QueryRow(ctx, `SELECT first_idx, first_range FROM origins WHERE origin = $1`, origin).Scan(&first, &hashes)
	if errors.Is(err, pgx.ErrNoRows) {
		first, hashes, err = 0, nil, nil
	}
	if err != nil {
		return floorMove{}, err
	}
	start, err := audit.NewRangeFactory().NewRange(0, uint64(first), hashes)
	if err != nil {
		return floorMove{}, fmt.Errorf("the stored start state: %w", err)
	}
	var end int64
	err = db.QueryRow(ctx, `SELECT min(size) FROM checkpoints WHERE origin = $1 AND size > $2`, origin, int64(last)).Scan(&end)
	if err != nil {
		return floorMove{}, fmt.Errorf("no checkpoint shipped yet covers record %d: it cannot be exported verifiably", last)
	}
	rows, err := db.Query(ctx, `SELECT record FROM records WHERE origin = $1 AND idx >= $2 AND idx < $3 ORDER BY idx`, origin, first, end)
	if err != nil {
		return floorMove{}, err
	}
	recs, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return floorMove{}, err
	}
	rows, err = db.Query(ctx, `SELECT note FROM checkpoints WHERE origin = $1 AND size >= $2 AND size <= $3 ORDER BY size`, origin, first, end)
	if err != nil {
		return floorMove{}, err
	}
	notes, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return floorMove{}, err
	}
	if err := moveAside(out); err != nil {
		return floorMove{}, err
	}
	if err := audit.WriteLog(out, start, recs, notes, keys); err != nil {
		return floorMove{}, err
	}
	rep, err := audit.Verify(out, keys)
	if err != nil {
		return floorMove{}, fmt.Errorf("the export %s does not verify: %w", out, err)
	}
	if rep.Records != uint64(end-first) || rep.LastCheckpoint != uint64(end) || rep.First != uint64(first) {
		return floorMove{}, fmt.Errorf("the export %s holds records %d+%d up to checkpoint %d, want %d–%d", out, rep.First, rep.Records, rep.LastCheckpoint, first, end-1)
	}
	for _, r := range recs[:last+1-uint64(first)] {
		if err := start.Append(audit.Hasher{}.HashLeaf(r), nil); err != nil {
			return floorMove{}, err
		}
	}
	return floorMove{origin: origin, next: last + 1, rng: start.Hashes()}, nil
}

// moveAside renames what an earlier run left at out — an export written before the run
// was killed or refused before the month was dropped — to out.stale-TIME: the month is
// still in the index, so this run exports it again, and nothing is deleted.
func moveAside(out string) error {
	entries, err := os.ReadDir(out)
	if errors.Is(err, os.ErrNotExist) || err == nil && len(entries) == 0 {
		return nil
	}
	if err != nil {
		return err
	}
	aside := out + ".stale-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(out, aside); err != nil {
		return fmt.Errorf("move aside what an earlier run left: %w", err)
	}
	return nil
}
