package ship

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/audit/index"
	"github.com/jackc/pgx/v5"
)

// Defaults of Options.
const (
	DefaultBatch = 5000
	// DefaultWriters is how many connections write batches at once: two, so that one
	// batch is copied while the one before commits.
	DefaultWriters = 2
	DefaultPoll    = time.Second
	DefaultRecheck = 24 * time.Hour
	// span is how many records one pass verifies before shipping them (the last
	// checkpoint within it; the first after it if none is). Pass one's rows are held
	// until shipped (~3 KB each: the record's bytes, its columns and its encoded COPY
	// tuple), two spans at once (the next is verified while this one ships): ~200 MB.
	span = 1 << 15
)

// ErrRefused is returned once the shipper refused what it found: it does not go on.
var ErrRefused = errors.New("audit shipper refused the log: see the alerts table")

// Options configure a Shipper.
type Options struct {
	Dir  string        // the gateway's audit directory
	Keys *audit.KeySet // the audit public keys, kept apart from the log
	DB   *pgx.Conn     // the audit index; the shipper owns the connection while it runs
	// Writers are more connections to the same database: batches are copied over DB and
	// these in turn, each while the one before commits, and committed in order (nil: DB
	// alone). The shipper owns them while it runs.
	Writers []*pgx.Conn
	Batch   int           // records per transaction
	Poll    time.Duration // how often Run looks for new checkpoints
	// Recheck is how often the records already shipped that are still on disk are read
	// again and compared with the index (and once when the shipper starts).
	Recheck time.Duration
	// ProviderDept names the department providing a resource (the catalog's owner), for
	// the provider_dept column; nil leaves it empty.
	ProviderDept func(resource string) string
	Logger       *slog.Logger
}

// Shipper ships one gateway's log.
type Shipper struct {
	opts      Options
	log       *slog.Logger
	origin    string
	rechecked time.Time
	stats     stats
	// The checkpoints file is read from where the last pass stopped; the checkpoints read
	// but not yet shipped wait in pending.
	ckptOffset int64
	notes      int
	pending    []*audit.SignedCheckpoint
	// lastNote is the last note read, which ends at ckptOffset: each pass reads it again
	// first, so that a file made again and grown past ckptOffset is found, not read from
	// the middle of a frame (which would look like a note still being written, for ever).
	lastNote []byte
	// scanPos is where pass one's last scan of the segments stopped: the next span starts
	// reading there (when it starts at that record) instead of at its segment's start.
	scanPos audit.ScanPos
}

type stats struct {
	records, checkpoints, batches, alerts atomic.Uint64
	refused                               atomic.Bool
}

// New checks the options and the index's schema.
func New(ctx context.Context, opts Options) (*Shipper, error) {
	if opts.Dir == "" || opts.Keys == nil || opts.DB == nil {
		return nil, errors.New("audit shipper: a directory, keys and a database are required")
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Recheck <= 0 {
		opts.Recheck = DefaultRecheck
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := index.CheckSchema(ctx, opts.DB); err != nil {
		return nil, err
	}
	return &Shipper{opts: opts, log: opts.Logger.With("dir", opts.Dir)}, nil
}

// Run ships until ctx ends (nil) or the shipper refuses the log (ErrRefused) or fails.
func (s *Shipper) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for {
		if _, err := s.Once(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Result is what one pass shipped.
type Result struct {
	Origin      string
	Records     uint64
	Checkpoints int
	Next        uint64 // records [.., Next) are in the index
}

// Once ships everything a verified checkpoint covers now, and rechecks the records
// shipped before when it is time to.
func (s *Shipper) Once(ctx context.Context) (Result, error) {
	if s.stats.refused.Load() {
		return Result{}, ErrRefused
	}
	fresh, err := s.readCheckpoints(ctx)
	if err != nil || s.origin == "" {
		return Result{}, err // no checkpoint yet: nothing is provable
	}
	p, first, err := s.progress(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := s.checkHistory(ctx, fresh, p); err != nil {
		return Result{}, err
	}
	s.pending = append(s.pending, fresh...)
	if time.Since(s.rechecked) >= s.opts.Recheck {
		if err := s.recheck(ctx, p); err != nil {
			return Result{}, err
		}
		s.rechecked = time.Now()
	}
	res := Result{Origin: s.origin, Next: p.Next}
	for {
		s.pending = slices.DeleteFunc(s.pending, func(c *audit.SignedCheckpoint) bool { return c.Size <= p.Next })
		n, c, err := s.pass(ctx, s.pending, p, first)
		res.Records += n
		res.Checkpoints += c
		res.Next = p.Next
		first = nil
		if err != nil || n == 0 {
			return res, err
		}
	}
}

// readCheckpoints opens the checkpoint notes appended since the last pass: one that does
// not verify with the keys, or names another origin than the others, is refused, and so
// is a checkpoints file that shrank.
func (s *Shipper) readCheckpoints(ctx context.Context) ([]*audit.SignedCheckpoint, error) {
	from := s.ckptOffset
	if s.lastNote != nil {
		from -= audit.CheckpointFrameBytes(s.lastNote)
	}
	notes, off, err := audit.CheckpointNotesFrom(s.opts.Dir, from)
	if errors.Is(err, audit.ErrCheckpointsShrank) {
		return nil, s.refuse(ctx, s.origin, "inconsistent_checkpoint", nil, fmt.Sprintf("%s: %v: the history was rewritten", s.opts.Dir, err))
	}
	if err != nil {
		return nil, fmt.Errorf("read the checkpoints of %s: %w", s.opts.Dir, err)
	}
	if s.lastNote != nil {
		if len(notes) == 0 || !bytes.Equal(notes[0], s.lastNote) {
			return nil, s.refuse(ctx, s.origin, "inconsistent_checkpoint", nil,
				fmt.Sprintf("%s: the checkpoint note read last, at byte %d of the checkpoints file, is no longer there: the file was made again, the history rewritten", s.opts.Dir, from))
		}
		notes = notes[1:]
	}
	out := make([]*audit.SignedCheckpoint, 0, len(notes))
	for i, n := range notes {
		c, err := audit.OpenCheckpoint(n, s.opts.Keys)
		if err != nil {
			origin := s.origin
			if origin == "" {
				origin = "(unknown: " + s.opts.Dir + ")"
			}
			return nil, s.refuse(ctx, origin, "bad_checkpoint", nil, fmt.Sprintf("checkpoint %d of the file does not verify: %v", s.notes+i, err))
		}
		if s.origin == "" {
			s.origin = c.Origin
			s.log = s.log.With("origin", c.Origin)
		}
		if c.Origin != s.origin {
			return nil, s.refuse(ctx, s.origin, "bad_checkpoint", nil, fmt.Sprintf("checkpoint %d names origin %q", s.notes+i, c.Origin))
		}
		out = append(out, c)
	}
	if len(notes) > 0 {
		s.lastNote = notes[len(notes)-1]
	}
	s.ckptOffset, s.notes = off, s.notes+len(notes)
	return out, nil
}

// progress loads where the shipper stopped, or starts at the log's first record kept,
// from the start state the log wrote beside that segment.
func (s *Shipper) progress(ctx context.Context) (*index.Progress, *index.Progress, error) {
	p, err := index.LoadProgress(ctx, s.opts.DB, s.origin)
	if err != nil || p != nil {
		return p, nil, err
	}
	firsts, err := audit.Segments(s.opts.Dir)
	if err != nil {
		return nil, nil, fmt.Errorf("segments of %s: %w", s.opts.Dir, err)
	}
	p = &index.Progress{Origin: s.origin, Range: [][]byte{}, CkptRoot: []byte{}}
	if len(firsts) > 0 && firsts[0] > 0 {
		rng, err := audit.StartState(s.opts.Dir, firsts[0])
		if err != nil {
			return nil, nil, fmt.Errorf("the start state of the first segment of %s: %w", s.opts.Dir, err)
		}
		p.Next, p.Range = firsts[0], rng.Hashes()
	}
	first := *p
	first.Range = slices.Clone(p.Range) // compact ranges append into their hashes' array
	return p, &first, nil
}

// refuse records an alert loudly and stops the shipper.
func (s *Shipper) refuse(ctx context.Context, origin, kind string, idx *uint64, detail string) error {
	s.stats.alerts.Add(1)
	s.stats.refused.Store(true)
	attrs := []any{"origin", origin, "kind", kind, "detail", detail}
	if idx != nil {
		attrs = append(attrs, "index", *idx)
	}
	s.log.Error("audit shipper: refused; this origin is no longer shipped", attrs...)
	if err := index.Alert(ctx, s.opts.DB, origin, kind, idx, detail); err != nil {
		s.log.Error("audit shipper: the alert could not be recorded", "error", err)
		return errors.Join(fmt.Errorf("%w: %s: %s", ErrRefused, kind, detail), err)
	}
	return fmt.Errorf("%w: %s: %s", ErrRefused, kind, detail)
}

// checkHistory compares the checkpoints read this pass of sizes already shipped with the
// stored ones: a different root for a size shipped is a history rewritten. Then it checks
// the log's consistency proof from the last checkpoint shipped to the first after it.
func (s *Shipper) checkHistory(ctx context.Context, fresh []*audit.SignedCheckpoint, p *index.Progress) error {
	var sizes []int64
	var after *audit.SignedCheckpoint // the first checkpoint after the one shipped
	for _, c := range fresh {
		if c.Size <= p.Next {
			sizes = append(sizes, int64(c.Size))
		}
		if c.Size > p.CkptSize && (after == nil || c.Size < after.Size) {
			after = c
		}
	}
	if len(sizes) > 0 {
		roots, err := index.CheckpointRoots(ctx, s.opts.DB, s.origin, sizes)
		if err != nil {
			return err
		}
		for _, c := range fresh {
			if r, ok := roots[c.Size]; ok && !bytes.Equal(r, c.Root) {
				size := c.Size
				return s.refuse(ctx, s.origin, "inconsistent_checkpoint", &size,
					fmt.Sprintf("the log's checkpoint of size %d has root %x, the one shipped %x: the history was rewritten", c.Size, c.Root, r))
			}
		}
	}
	if after != nil {
		if why := s.consistent(p.CkptSize, p.CkptRoot, after); why != "" {
			size := after.Size
			return s.refuse(ctx, s.origin, "inconsistent_checkpoint", &size, why)
		}
	}
	return nil
}
