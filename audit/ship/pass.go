package ship

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/audit/index"
	"github.com/transparency-dev/merkle/proof"
)

var errEnough = errors.New("enough records")

// targets are the checkpoints after next, by size, one per size: two notes of one size
// with different roots are a history rewritten.
func (s *Shipper) targets(ctx context.Context, ckpts []*audit.SignedCheckpoint, next uint64) ([]*audit.SignedCheckpoint, error) {
	var out []*audit.SignedCheckpoint
	for _, c := range ckpts {
		if c.Size > next {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b *audit.SignedCheckpoint) int { return cmp.Compare(a.Size, b.Size) })
	uniq := out[:0]
	for _, c := range out {
		if k := len(uniq); k > 0 && uniq[k-1].Size == c.Size {
			if !bytes.Equal(uniq[k-1].Root, c.Root) {
				size := c.Size
				return nil, s.refuse(ctx, s.origin, "inconsistent_checkpoint", &size, fmt.Sprintf("two checkpoints of size %d with different roots", c.Size))
			}
			continue
		}
		uniq = append(uniq, c)
	}
	return uniq, nil
}

// verified is what pass one found: the leaves of records [p.Next, ..), the checkpoints
// they verify against, and the refusal to make once the good part is shipped.
type verified struct {
	leaves  [][]byte
	good    []*audit.SignedCheckpoint
	refusal func() error
}

// pass verifies the records up to the checkpoints after p.Next and ships those the
// checkpoints confirm, in batches. It returns how many records and checkpoints it shipped.
func (s *Shipper) pass(ctx context.Context, ckpts []*audit.SignedCheckpoint, p, first *index.Progress) (uint64, int, error) {
	targets, err := s.targets(ctx, ckpts, p.Next)
	if err != nil || len(targets) == 0 {
		return 0, 0, err
	}
	v, err := s.verify(ctx, targets, p)
	if err != nil {
		return 0, 0, err
	}
	var n uint64
	var c int
	if len(v.good) > 0 {
		n, c, err = s.shipVerified(ctx, v, p, first)
		if err != nil {
			return n, c, err
		}
	}
	if v.refusal != nil {
		return n, c, v.refusal()
	}
	return n, c, nil
}

// verify is pass one: every record's bytes (audit.CheckRecord), then each checkpoint in
// turn: a consistency proof from the one before, and the root of the records.
func (s *Shipper) verify(ctx context.Context, targets []*audit.SignedCheckpoint, p *index.Progress) (*verified, error) {
	end := targets[0].Size
	for _, t := range targets {
		if t.Size-p.Next <= maxSpan {
			end = t.Size
		}
	}
	v := &verified{}
	bad := uint64(0)
	var badErr error
	err := audit.ScanFrom(s.opts.Dir, p.Next, func(i uint64, rec []byte) error {
		if i >= end {
			return errEnough
		}
		if want := p.Next + uint64(len(v.leaves)); i != want {
			return fmt.Errorf("record %d follows record %d: %w", i, want-1, errGap)
		}
		_, leaf, err := audit.CheckRecord(rec)
		if err != nil {
			bad, badErr = i, err
			return errEnough
		}
		v.leaves = append(v.leaves, leaf)
		return nil
	})
	if errors.Is(err, errGap) || err == nil && len(v.leaves) == 0 && badErr == nil && s.firstKept() > p.Next {
		next := p.Next
		return nil, s.refuse(ctx, s.origin, "records_lost", &next, fmt.Sprintf("records from %d are no longer in %s (removed by retention before they were shipped?): %v", p.Next, s.opts.Dir, err))
	}
	if err != nil && !errors.Is(err, errEnough) {
		return nil, fmt.Errorf("read %s from record %d: %w", s.opts.Dir, p.Next, err)
	}
	if badErr != nil {
		v.refusal = func() error {
			return s.refuse(ctx, s.origin, "record_invalid", &bad, fmt.Sprintf("record %d does not verify: %v", bad, badErr))
		}
	}
	rng, err := audit.NewRangeFactory().NewRange(0, p.Next, p.Range)
	if err != nil {
		return nil, fmt.Errorf("the shipped compact range of %s: %w", s.origin, err)
	}
	prevSize, prevRoot := p.CkptSize, p.CkptRoot
	have := p.Next + uint64(len(v.leaves))
	for _, t := range targets {
		if t.Size > have {
			break
		}
		for rng.End() < t.Size {
			if err := rng.Append(v.leaves[rng.End()-p.Next], nil); err != nil {
				return nil, err
			}
		}
		if why := s.consistent(prevSize, prevRoot, t); why != "" {
			size := t.Size
			v.refusal = func() error { return s.refuse(ctx, s.origin, "inconsistent_checkpoint", &size, why) }
			break
		}
		root, err := rng.GetRootHash(nil)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(root, t.Root) {
			from, size := prevSize, t.Size
			v.refusal = func() error {
				return s.refuse(ctx, s.origin, "record_invalid", &from, fmt.Sprintf("the records %d–%d do not hash to the signed root of checkpoint %d: a record was changed", from, size-1, size))
			}
			break
		}
		v.good = append(v.good, t)
		prevSize, prevRoot = t.Size, t.Root
	}
	if len(v.good) > 0 {
		v.leaves = v.leaves[:v.good[len(v.good)-1].Size-p.Next]
	}
	return v, nil
}

var errGap = errors.New("records are missing")

func (s *Shipper) firstKept() uint64 {
	firsts, err := audit.Segments(s.opts.Dir)
	if err != nil || len(firsts) == 0 {
		return 0
	}
	return firsts[0]
}

// consistent checks the log's consistency proof from the last checkpoint shipped to t;
// "" when it holds. Without a stored tree (an export without tree.hashes) the root of the
// records, checked next, is the proof.
func (s *Shipper) consistent(prevSize uint64, prevRoot []byte, t *audit.SignedCheckpoint) string {
	if prevSize == 0 {
		return ""
	}
	hashes, err := audit.ProveConsistency(s.opts.Dir, prevSize, t.Size)
	if err != nil {
		s.log.Warn("audit shipper: no consistency proof from the stored tree; the records' root decides", "from", prevSize, "to", t.Size, "error", err)
		return ""
	}
	if err := proof.VerifyConsistency(audit.Hasher{}, prevSize, t.Size, hashes, prevRoot, t.Root); err != nil {
		return fmt.Sprintf("checkpoint %d is not consistent with checkpoint %d shipped before (%v): the history was rewritten", t.Size, prevSize, err)
	}
	return ""
}

// shipVerified is pass two: the records are read again, each must still hash to its leaf
// of pass one, and they go to the index in batches, with the checkpoints they reach.
func (s *Shipper) shipVerified(ctx context.Context, v *verified, p, first *index.Progress) (uint64, int, error) {
	end := v.good[len(v.good)-1].Size
	start := p.Next
	rng, err := audit.NewRangeFactory().NewRange(0, p.Next, p.Range)
	if err != nil {
		return 0, 0, err
	}
	rows := make([]index.Row, 0, min(s.opts.Batch, int(end-start)))
	ck := 0
	var shippedCkpts int
	flush := func() error {
		b := &index.Batch{Rows: rows, First: first}
		next := p.Next + uint64(len(rows))
		prog := index.Progress{Origin: s.origin, Next: next, Range: slices.Clone(rng.Hashes()), CkptSize: p.CkptSize, CkptRoot: p.CkptRoot}
		var cks []index.Checkpoint
		for ck < len(v.good) && v.good[ck].Size <= next {
			c := v.good[ck]
			cks = append(cks, index.Checkpoint{Size: c.Size, Root: c.Root, Note: c.Note})
			prog.CkptSize, prog.CkptRoot = c.Size, c.Root
			ck++
		}
		b.Checkpoints, b.Progress = cks, prog
		if err := index.Ship(ctx, s.opts.DB, b); err != nil {
			return err
		}
		*p = prog
		first = nil
		s.stats.records.Add(uint64(len(rows)))
		s.stats.checkpoints.Add(uint64(len(cks)))
		s.stats.batches.Add(1)
		shippedCkpts += len(cks)
		rows = rows[:0]
		return nil
	}
	var changed *uint64
	err = audit.ScanFrom(s.opts.Dir, start, func(i uint64, rec []byte) error {
		if i >= end {
			return errEnough
		}
		r, leaf, err := audit.CheckRecord(rec)
		if err != nil || !bytes.Equal(leaf, v.leaves[i-start]) {
			changed = &i
			return errEnough
		}
		rows = append(rows, index.NewRow(s.origin, i, bytes.Clone(rec), leaf, r, s.opts.ProviderDept))
		if err := rng.Append(leaf, nil); err != nil {
			return err
		}
		if len(rows) == s.opts.Batch {
			return flush()
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return p.Next - start, shippedCkpts, err
	}
	if changed != nil {
		return p.Next - start, shippedCkpts, s.refuse(ctx, s.origin, "record_changed_on_disk", changed, fmt.Sprintf("record %d changed while it was being shipped", *changed))
	}
	if len(rows) > 0 {
		if err := flush(); err != nil {
			return p.Next - start, shippedCkpts, err
		}
	}
	if p.Next != end {
		return p.Next - start, shippedCkpts, fmt.Errorf("shipped up to record %d of %s, the checkpoint covers %d: records went missing while shipping", p.Next, s.origin, end)
	}
	return p.Next - start, shippedCkpts, nil
}
