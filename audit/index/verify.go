package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/govgate/govgate/audit"
	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/compact"
)

// Verify checks the indexed records of origin as `audit verify` checks a log: each row's
// canonical bytes must hash to its leaf hash, parse as a record whose columns the row holds
// (a row changed in the database is found whichever column was changed), follow the one
// before without a gap, and the roots of the rows must be those of the stored checkpoints,
// whose signatures must verify with keys; rows no stored checkpoint covers prove nothing
// and are a fault. The roll-ups the reports read must be the sums of the rows
// (checkRollups). Every fault is reported; the error is then audit.Faults.
func Verify(ctx context.Context, db *pgx.Conn, origin string, keys *audit.KeySet) (*audit.VerifyReport, error) {
	v := &dbVerifier{origin: origin}
	if err := v.loadCheckpoints(ctx, db, keys); err != nil {
		return nil, err
	}
	if err := v.loadStart(ctx, db); err != nil {
		return nil, err
	}
	rows, err := db.Query(ctx, `SELECT `+joinColumns()+` FROM records WHERE origin = $1 ORDER BY idx`, origin)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", origin, err)
	}
	var stored Row
	var idx int64
	_, err = pgx.ForEachRow(rows, stored.targets(&idx), func() error {
		stored.Index = uint64(idx)
		return v.row(&stored)
	})
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", origin, err)
	}
	if err := v.checkpointsUpTo(v.next); err != nil {
		return nil, err
	}
	if v.ck < len(v.ckpts) {
		v.fault(int64(v.next), -1, fmt.Sprintf("the index ends here, but checkpoint %d covers %d records: rows were removed", v.ckpts[v.ck].pos, v.ckpts[v.ck].Size))
	}
	v.uncovered()
	if err := v.checkRollups(ctx, db); err != nil {
		return nil, err
	}
	rep := &audit.VerifyReport{First: v.first, Records: v.next - v.first, Signed: v.signed, Checkpoints: len(v.ckpts) + v.badCkpts, Faults: v.faults}
	if len(v.ckpts) > 0 {
		rep.LastCheckpoint = v.ckpts[len(v.ckpts)-1].Size
		if v.next > rep.LastCheckpoint {
			rep.UncoveredRecord = v.next - rep.LastCheckpoint
		}
	}
	if rep.Records == 0 && len(v.ckpts) == 0 {
		v.fault(-1, -1, fmt.Sprintf("the index holds nothing of origin %q", origin))
		rep.Faults = v.faults
	}
	if len(rep.Faults) > 0 {
		return rep, audit.Faults(rep.Faults)
	}
	return rep, nil
}

func joinColumns() string {
	b := bytes.Buffer{}
	for i, c := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c)
	}
	return b.String()
}

type storedCheckpoint struct {
	*audit.SignedCheckpoint
	pos int
}

type dbVerifier struct {
	origin   string
	ckpts    []storedCheckpoint
	badCkpts int
	ck       int
	rng      *compact.Range
	first    uint64
	next     uint64
	started  bool
	signed   int
	faults   []*audit.Fault
}

func (v *dbVerifier) fault(index int64, ckpt int, what string) {
	v.faults = append(v.faults, &audit.Fault{Index: index, Checkpoint: ckpt, What: what})
}

func (v *dbVerifier) loadCheckpoints(ctx context.Context, db *pgx.Conn, keys *audit.KeySet) error {
	cs, err := Checkpoints(ctx, db, v.origin)
	if err != nil {
		return err
	}
	for i, c := range cs {
		sc, err := audit.OpenCheckpoint(c.Note, keys)
		switch {
		case err != nil:
			v.fault(-1, i, err.Error())
		case sc.Origin != v.origin:
			err = errors.New("wrong origin")
			v.fault(-1, i, fmt.Sprintf("the note is of origin %q, stored as %q", sc.Origin, v.origin))
		case sc.Size != c.Size || !bytes.Equal(sc.Root, c.Root):
			err = errors.New("columns")
			v.fault(-1, i, fmt.Sprintf("the row says size %d, the signed note %d, or the roots differ: the row was changed", c.Size, sc.Size))
		}
		if err != nil {
			v.badCkpts++
			continue
		}
		v.ckpts = append(v.ckpts, storedCheckpoint{sc, i})
	}
	return nil
}

// loadStart takes the compact range where the origin's rows begin (after retention, not 0).
func (v *dbVerifier) loadStart(ctx context.Context, db *pgx.Conn) error {
	var first int64
	var hashes [][]byte
	err := db.QueryRow(ctx, `SELECT first_idx, first_range FROM origins WHERE origin = $1`, v.origin).Scan(&first, &hashes)
	if errors.Is(err, pgx.ErrNoRows) {
		first, hashes = 0, nil
	} else if err != nil {
		return fmt.Errorf("verify %s: %w", v.origin, err)
	}
	rng, err := audit.NewRangeFactory().NewRange(0, uint64(first), hashes)
	if err != nil {
		v.fault(first, -1, fmt.Sprintf("the stored start state is wrong: %v", err))
		rng = audit.NewRangeFactory().NewEmptyRange(uint64(first))
	}
	v.rng, v.first, v.next = rng, uint64(first), uint64(first)
	for v.ck < len(v.ckpts) && v.ckpts[v.ck].Size < v.first {
		v.ck++ // checkpoints of rows retention dropped
	}
	return nil
}

func (v *dbVerifier) row(stored *Row) error {
	if stored.Index != v.next {
		if stored.Index < v.next {
			v.fault(int64(stored.Index), -1, "appears twice in the index")
			return nil
		}
		v.fault(int64(v.next), -1, fmt.Sprintf("rows %d–%d are missing from the index", v.next, stored.Index-1))
		v.rng = audit.NewRangeFactory().NewEmptyRange(stored.Index)
		for v.ck < len(v.ckpts) && v.ckpts[v.ck].Size <= stored.Index {
			v.ck++ // not comparable across the gap
		}
		v.next = stored.Index
	}
	if err := v.checkpointsUpTo(v.next); err != nil {
		return err
	}
	r, leaf, err := audit.CheckRecord(stored.Record)
	switch {
	case !bytes.Equal(leaf, stored.Leaf):
		v.fault(int64(v.next), -1, "its record bytes do not hash to its leaf_hash: the row was changed")
	case err != nil:
		v.fault(int64(v.next), -1, err.Error())
	default:
		want := NewRow(v.origin, v.next, stored.Record, leaf, r, nil)
		if c := differs(stored, &want); c != "" {
			v.fault(int64(v.next), -1, fmt.Sprintf("column %s is not what its record says: the row was changed", c))
		}
		if r.Signature != nil {
			v.signed++
		}
	}
	if err := v.rng.Append(leaf, nil); err != nil {
		return err
	}
	v.next++
	return nil
}

// uncovered is a fault for the rows after the last checkpoint that verified: the shipper
// ships only what a signed checkpoint covers, so nothing proves them — a checkpoint row
// was removed (and the rows after the one before may say anything), or they were added.
// A shipper in the middle of a span leaves such rows until its batch with the checkpoint.
func (v *dbVerifier) uncovered() {
	last := v.first
	if len(v.ckpts) > 0 {
		last = max(last, v.ckpts[len(v.ckpts)-1].Size)
	}
	if v.next > last {
		v.fault(int64(last), -1, fmt.Sprintf("rows %d–%d are covered by no checkpoint stored: nothing proves them (a checkpoint row was removed, or a shipper is mid-span)", last, v.next-1))
	}
}

func (v *dbVerifier) checkpointsUpTo(n uint64) error {
	for v.ck < len(v.ckpts) && v.ckpts[v.ck].Size <= n {
		c := v.ckpts[v.ck]
		if c.Size == n && v.rng.Begin() == 0 {
			root := audit.Hasher{}.EmptyRoot()
			if n > 0 {
				r, err := v.rng.GetRootHash(nil)
				if err != nil {
					return err
				}
				root = r
			}
			if !bytes.Equal(root, c.Root) {
				v.fault(-1, c.pos, fmt.Sprintf("the root of %d rows is not the signed root: a row before it was changed", c.Size))
			}
		}
		v.ck++
	}
	return nil
}
