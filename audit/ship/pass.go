package ship

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/audit/index"
	"github.com/jackc/pgx/v5"
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

// verified is what pass one found: the rows of records [p.Next, ..) (each with its
// canonical bytes and leaf), the checkpoints they verify against, the compact range after
// the last of them, and the refusal to make once the good part is shipped.
type verified struct {
	rows    []index.Row
	good    []*audit.SignedCheckpoint
	hashes  [][]byte
	refusal func() error
}

// after is the progress once v's good part is shipped: where the next span's pass one
// starts.
func (v *verified) after(p *index.Progress) *index.Progress {
	last := v.good[len(v.good)-1]
	return &index.Progress{Origin: p.Origin, Next: last.Size, Range: v.hashes, CkptSize: last.Size, CkptRoot: last.Root}
}

type verifiedOrErr struct {
	v   *verified
	err error
}

// pass verifies the records up to the checkpoints after p.Next and ships those the
// checkpoints confirm, in batches, a span of about span records at a time: the next
// span's pass one (files and CPU only) runs while this one's pass two ships. It returns
// how many records and checkpoints it shipped.
func (s *Shipper) pass(ctx context.Context, ckpts []*audit.SignedCheckpoint, p, first *index.Progress) (uint64, int, error) {
	targets, err := s.targets(ctx, ckpts, p.Next)
	if err != nil || len(targets) == 0 {
		return 0, 0, err
	}
	v, err := s.verify(ctx, targets, p)
	var n uint64
	var c int
	for err == nil {
		var next chan verifiedOrErr
		if v.refusal == nil && len(v.good) > 0 {
			from := v.after(p)
			rest := slices.DeleteFunc(slices.Clone(targets), func(t *audit.SignedCheckpoint) bool { return t.Size <= from.Next })
			if len(rest) > 0 {
				next = make(chan verifiedOrErr, 1)
				go func() {
					nv, err := s.verify(ctx, rest, from)
					next <- verifiedOrErr{nv, err}
				}()
			}
		}
		if len(v.good) > 0 {
			dn, dc, shipErr := s.shipVerified(ctx, v, p, first)
			n, c, first = n+dn, c+dc, nil
			if shipErr != nil {
				if next != nil {
					<-next // pass one reads files only: let it end
				}
				return n, c, shipErr
			}
		}
		if v.refusal != nil {
			return n, c, v.refusal()
		}
		if next == nil {
			return n, c, nil
		}
		r := <-next
		v, err = r.v, r.err
	}
	return n, c, err
}

// verify is pass one: every record's bytes (audit.CheckRecord), then each checkpoint in
// turn: a consistency proof from the one before, and the root of the records. It reads
// files only (it may run while batches are written): a refusal is returned in
// verified.refusal, to be made once the good part is shipped.
func (s *Shipper) verify(ctx context.Context, targets []*audit.SignedCheckpoint, p *index.Progress) (*verified, error) {
	end := targets[0].Size
	for _, t := range targets {
		if t.Size-p.Next <= span {
			end = t.Size
		}
	}
	// The rows are big structs: grown by append, the slice was copied and cleared again
	// and again (a measured share of pass one's CPU).
	v := &verified{rows: make([]index.Row, 0, min(end-p.Next, span))}
	bad := uint64(0)
	var badErr error
	var pending [][]byte
	var arena recordArena
	check := func() {
		for _, res := range checkParallel(pending, s.origin, p.Next+uint64(len(v.rows)), s.opts.ProviderDept) {
			if badErr != nil {
				break
			}
			if res.err != nil {
				bad, badErr = p.Next+uint64(len(v.rows)), res.err
				break
			}
			v.rows = append(v.rows, res.row)
		}
		pending = pending[:0]
	}
	var gapAt uint64 // the first record missing where the scan went on with a later one
	pos, err := audit.ScanFromPos(s.opts.Dir, p.Next, s.scanPos, func(i uint64, rec []byte) error {
		if i >= end || badErr != nil {
			return errEnough
		}
		if want := p.Next + uint64(len(v.rows)+len(pending)); i != want {
			gapAt = want
			return fmt.Errorf("record %d follows record %d: %w", i, want-1, errGap)
		}
		pending = append(pending, arena.clone(rec))
		if len(pending) == checkChunk {
			check()
		}
		return nil
	})
	if len(pending) > 0 && (err == nil || errors.Is(err, errEnough)) {
		check()
	}
	s.scanPos = pos
	if errors.Is(err, errGap) && gapAt >= s.firstKept() {
		// The segment holding the record is still there (segments are kept from the first
		// on): the reader ended it at the record's frame, cut short or not matching its
		// checksum — the record was changed or lost on disk, not removed by retention.
		why := fmt.Sprintf("record %d cannot be read whole from %s (its frame is cut short or does not match its checksum; the next segment follows): it was changed or lost: %v", gapAt, s.opts.Dir, err)
		return &verified{refusal: func() error { return s.refuse(ctx, s.origin, "record_invalid", &gapAt, why) }}, nil
	}
	if errors.Is(err, errGap) || err == nil && len(v.rows) == 0 && badErr == nil && s.firstKept() > p.Next {
		next, why := p.Next, fmt.Sprintf("records from %d are no longer in %s (removed by retention before they were shipped?): %v", p.Next, s.opts.Dir, err)
		return &verified{refusal: func() error { return s.refuse(ctx, s.origin, "records_lost", &next, why) }}, nil
	}
	if err != nil && !errors.Is(err, errEnough) {
		return nil, fmt.Errorf("read %s from record %d: %w", s.opts.Dir, p.Next, err)
	}
	if badErr != nil {
		v.refusal = func() error {
			return s.refuse(ctx, s.origin, "record_invalid", &bad, fmt.Sprintf("record %d does not verify: %v", bad, badErr))
		}
	} else if cut := p.Next + uint64(len(v.rows)); err == nil && cut < end {
		// The files ended before records a checkpoint covers: the log writes a checkpoint
		// only of records already written, so this is no tail being written but a record
		// the reader stopped at (a frame cut short or not matching its checksum).
		v.refusal = func() error {
			return s.refuse(ctx, s.origin, "record_invalid", &cut, fmt.Sprintf("record %d, which checkpoint %d covers, cannot be read whole from %s (its frame is cut short or does not match its checksum): it was changed or lost", cut, end, s.opts.Dir))
		}
	}
	rng, err := audit.NewRangeFactory().NewRange(0, p.Next, slices.Clone(p.Range))
	if err != nil {
		return nil, fmt.Errorf("the shipped compact range of %s: %w", s.origin, err)
	}
	prevSize, prevRoot := p.CkptSize, p.CkptRoot
	have := p.Next + uint64(len(v.rows))
	for _, t := range targets {
		if t.Size > have {
			break
		}
		for rng.End() < t.Size {
			if err := rng.Append(v.rows[rng.End()-p.Next].Leaf, nil); err != nil {
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
		v.rows = v.rows[:v.good[len(v.good)-1].Size-p.Next]
	}
	if len(v.good) > 0 && v.refusal == nil {
		v.hashes = slices.Clone(rng.Hashes()) // the range ends at the last good checkpoint
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

// shipVerified is pass two: the rows pass one verified — its bytes, not the file read
// again — go to the index in batches, with the checkpoints they reach. The batches are
// written (write) while the next are formed.
func (s *Shipper) shipVerified(ctx context.Context, v *verified, p, first *index.Progress) (uint64, int, error) {
	start := p.Next
	rng, err := audit.NewRangeFactory().NewRange(0, p.Next, slices.Clone(p.Range))
	if err != nil {
		return 0, 0, err
	}
	batches := make(chan *index.Batch, 1)
	done := make(chan error, 1)
	var shippedCkpts int
	go func() {
		done <- s.write(ctx, batches, func(b *index.Batch) {
			*p = b.Progress
			s.stats.records.Add(uint64(len(b.Rows)))
			s.stats.checkpoints.Add(uint64(len(b.Checkpoints)))
			s.stats.batches.Add(1)
			shippedCkpts += len(b.Checkpoints)
		})
	}()
	ck := 0
	ckSize, ckRoot := p.CkptSize, p.CkptRoot
	for lo := 0; lo < len(v.rows) && err == nil; lo += s.opts.Batch {
		rows := v.rows[lo:min(lo+s.opts.Batch, len(v.rows))]
		for i := range rows {
			if err = rng.Append(rows[i].Leaf, nil); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
		next := start + uint64(lo+len(rows))
		b := &index.Batch{Rows: rows, First: first}
		b.Progress = index.Progress{Origin: s.origin, Next: next, Range: slices.Clone(rng.Hashes())}
		for ck < len(v.good) && v.good[ck].Size <= next {
			c := v.good[ck]
			b.Checkpoints = append(b.Checkpoints, index.Checkpoint{Size: c.Size, Root: c.Root, Note: c.Note})
			ckSize, ckRoot = c.Size, c.Root
			ck++
		}
		b.Progress.CkptSize, b.Progress.CkptRoot = ckSize, ckRoot
		batches <- b
		first = nil
	}
	close(batches)
	if shipErr := <-done; shipErr != nil {
		if errors.Is(shipErr, index.ErrRollupKeyCollision) {
			// Not a passing fault: shipped again, the batch meets the same row. Refused as
			// the log's faults are, so that it is seen, not retried for ever.
			at := p.Next // batches commit in order: the refused one begins here
			shipErr = s.refuse(ctx, s.origin, "rollup_key_collision", &at, fmt.Sprintf(
				"the batch from record %d adds to a roll-up group whose key a row of other texts holds (a roll-up row's texts or group_key changed in the database; audit verify --db names it): %v", at, shipErr))
		}
		return p.Next - start, shippedCkpts, shipErr
	}
	if err != nil {
		return p.Next - start, shippedCkpts, err
	}
	if end := v.good[len(v.good)-1].Size; p.Next != end {
		return p.Next - start, shippedCkpts, fmt.Errorf("shipped up to record %d of %s, the checkpoint covers %d", p.Next, s.origin, end)
	}
	return p.Next - start, shippedCkpts, nil
}

// checkChunk is how many records pass one checks in parallel at once.
const checkChunk = 4096

type checkedRecord struct {
	row index.Row
	err error
}

// checkParallel runs audit.CheckRecord over recs (records first, first+1, ...) on every
// core and builds the rows of those that verify: parsing, hashing and the consumer
// signatures' SM2 verification are independent per record.
func checkParallel(recs [][]byte, origin string, first uint64, providerDept func(string) string) []checkedRecord {
	out := make([]checkedRecord, len(recs))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(recs); i += workers {
				r, leaf, err := audit.CheckRecord(recs[i])
				if err != nil {
					out[i] = checkedRecord{err: err}
					continue
				}
				out[i] = checkedRecord{row: index.NewRow(origin, first+uint64(i), recs[i], leaf, r, providerDept)}
				out[i].row.Encode()
			}
		}()
	}
	wg.Wait()
	return out
}

// copied is a batch copied in an open transaction on conn, waiting for its commit.
type copied struct {
	b    *index.Batch
	tx   *index.Pending
	conn *pgx.Conn
	err  error
}

// write ships the batches in order over the shipper's connections: each batch is copied
// (index.Begin) on a free connection while the one before commits, and committed
// (index.Pending.Commit: the progress check under the origin's lock) strictly in order,
// calling shipped after each. After the first error nothing more is committed (the
// batches copied are rolled back) and the error is returned once all are drained.
func (s *Shipper) write(ctx context.Context, batches <-chan *index.Batch, shipped func(*index.Batch)) error {
	conns := append([]*pgx.Conn{s.opts.DB}, s.opts.Writers...)
	free := make(chan *pgx.Conn, len(conns))
	for _, c := range conns {
		free <- c
	}
	commits := make(chan copied, len(conns))
	var failed atomic.Bool
	go func() {
		defer close(commits)
		for b := range batches {
			c := <-free
			if failed.Load() {
				free <- c
				continue // drain: the error is reported once
			}
			tx, err := index.Begin(ctx, c, b)
			commits <- copied{b: b, tx: tx, conn: c, err: err}
		}
	}()
	var err error
	for c := range commits {
		switch {
		case err != nil:
			if c.tx != nil {
				c.tx.Rollback(ctx)
			}
		case c.err != nil:
			err = c.err
		default:
			err = c.tx.Commit(ctx)
			if err == nil {
				shipped(c.b)
			}
		}
		if err != nil {
			failed.Store(true)
		}
		free <- c.conn
	}
	return err
}
