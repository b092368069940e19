package audit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emmansun/gmsm/sm3"
	"github.com/transparency-dev/merkle/compact"
)

// Defaults of Options.
const (
	DefaultSegmentBytes       = 64 << 20
	DefaultCheckpointInterval = time.Second
	DefaultMaxBatch           = 4096

	maxKeptBatchBuffer = 1 << 20
)

// Options configure a Log.
type Options struct {
	Dir    string
	Origin string // the checkpoint origin line, e.g. "govgate.example.gov.cn/gw-01"
	// Signer signs checkpoints and is recorded in the key set from the log's size at open.
	Signer *NoteSigner
	// KeysPath is the key set the log keeps up to date; default <Dir>/keys.json.
	KeysPath string
	// SegmentBytes is the size at which a segment is sealed and a new one begun.
	SegmentBytes       int64
	CheckpointInterval time.Duration
	MaxBatch           int // records per group commit at most
	// CommitDelay is how long the writer may hold a small batch open for more records
	// before it writes and syncs it, when records have been arriving fast enough that one
	// more is expected within the delay and other appenders are at work (commitdelay.go,
	// holdOpen). 0, the default, commits at once.
	// At moderate load a sync shared by more records costs each exchange less CPU, at
	// the price of up to CommitDelay more latency; no exchange is answered before its
	// own record is durable either way.
	CommitDelay time.Duration
	// Retention removes sealed segments whose newest record is older than this; 0 keeps
	// everything. Tree nodes and checkpoints are kept, so proofs still work.
	Retention time.Duration
	Logger    *slog.Logger
	// OnCommit, if set, is called by the writer after each group commit that made records
	// durable, with how many and how long framing, writing and fsync took: every appender
	// of the batch waited that long, so it is the audit log's share of an exchange's
	// latency and, in its tail, the disk's. It must return at once.
	OnCommit func(records int, took time.Duration)
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit log closed")

// Log is an append-only audit log. Append is safe for concurrent use and returns only
// once its record is durable; proofs and records may be read concurrently with appends.
type Log struct {
	opts Options
	log  *slog.Logger
	dir  string
	lock *os.File // the writer's lock of dir (lock.go), released by closeFiles
	// opened is when Open ran: before the first checkpoint, the time since which records
	// may have awaited one (Stats.CheckpointAt).
	opened time.Time

	reqs    chan *appendReq
	signers chan signerSwap
	ckptNow chan chan struct{} // a checkpoint of every durable record, now (Log.Export)
	stop    chan struct{}
	stopped chan struct{}
	closeMu sync.RWMutex
	closed  bool

	requests   sync.Pool // of *appendReq
	recordBufs sync.Pool // of *[]byte

	// Owned by the writer goroutine, read under mu.
	mu          sync.RWMutex
	segments    []*segment // in order; the last is active
	size        uint64     // durable records
	rng         *compact.Range
	tree        nodeStore
	treeWritten uint64         // records whose tree nodes are in tree.hashes; the rest are in tree.mem
	wbuf        []byte         // the frames of the batch being written, reused
	offsets     []int64        // the batch's record offsets, reused
	results     []appendResult // the batch's answers, reused
	nodes       nodeBatch      // the batch's new tree nodes, reused
	leaves      []byte         // the block the range's leaf hashes are carved from (leafRoom)
	zeros       []byte         // never written to: the source of Log.writeZeros
	grow        *growth        // the active segment's growth in progress, if any
	arrivals    arrivalRate    // how fast records arrive, for the commit delay (commitdelay.go)
	holdPaid    bool           // the last commit was a hold that gained a record (commitdelay.go)
	holdYield   float64        // the recent share of holds that gained a record (commitdelay.go)
	heldAt      time.Time      // when the last hold began

	ckpt     atomic.Pointer[SignedCheckpoint]
	ckptMu   sync.Mutex // one checkpoint written at a time; held by its goroutine
	ckptFile *os.File
	failing  atomic.Pointer[string] // the last write error while appends are refused
	failures atomic.Uint64
	appended atomic.Uint64
	held     atomic.Uint64 // commits held open by the commit delay
}

type segment struct {
	first   uint64
	path    string
	f       *os.File // open for reading (and writing, when active)
	end     int64    // durable end offset
	alloc   int64    // the file's size: zeros from end to alloc, written ahead (Log.sync)
	offsets []int64  // offset of each record
}

func (s *segment) count() uint64 { return uint64(len(s.offsets)) }

// appendReq is one Append waiting for the writer. Requests and their encoding buffers are
// reused (they were a third of the bytes the gateway allocated): the writer hands the
// buffer back once the record is framed, Append the request once it has its answer.
//
// Everything of the record that does not depend on its index is done by the appending
// goroutine before the hand-off: the canonical encoding, and the SM3 leaf hash and the
// frame's CRC-32C over the record up to its sequence number (the head, most of the
// record). The writer only continues both over the digits and the short tail, so that
// its critical path is framing, one write and one sync.
type appendReq struct {
	buf   *[]byte // the record without its sequence number, which goes at split
	split int
	leaf  hash.Hash // SM3 of 0x00 ‖ head, continued by the writer over seq ‖ tail
	crc   uint32    // CRC-32C of the head, continued by the writer
	sum   [HashSize]byte
	done  chan appendResult
}

// maxKeptRecordBuffer bounds the encoding buffers kept for reuse: a record with a long
// signature base or path is encoded in a buffer of its own.
const maxKeptRecordBuffer = 16 << 10

type appendResult struct {
	index uint64
	err   error
}

// Receipt names a durable record: its index and leaf hash in the log with this origin.
type Receipt struct {
	Origin string
	Index  uint64
	Leaf   []byte
}

// Open opens (creating if needed) the log in opts.Dir and recovers it: a torn tail that
// was never acknowledged is cut off, and tree nodes that were not yet durable are rebuilt
// from the records. With a signer, the writer starts and appends are accepted.
func Open(opts Options) (*Log, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = DefaultCheckpointInterval
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Origin == "" {
		return nil, errors.New("open audit log: no origin")
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("open audit log %s: %w", opts.Dir, err)
	}
	l := &Log{opts: opts, log: opts.Logger, dir: opts.Dir, lock: lock, opened: time.Now(),
		holdYield: 1} // holds are presumed to pay until they do not (commitdelay.go)
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, fmt.Errorf("open audit log %s: %w", opts.Dir, err)
	}
	if opts.KeysPath == "" {
		opts.KeysPath = filepath.Join(opts.Dir, "keys.json")
		l.opts.KeysPath = opts.KeysPath
	}
	if opts.Signer == nil {
		l.closeFiles()
		return nil, errors.New("open audit log: no signer")
	}
	if err := l.adopt(opts.Signer); err != nil {
		l.closeFiles()
		return nil, fmt.Errorf("open audit log %s: %w", opts.Dir, err)
	}
	{
		l.signers = make(chan signerSwap)
		l.ckptNow = make(chan chan struct{})
		l.reqs = make(chan *appendReq, opts.MaxBatch)
		l.stop = make(chan struct{})
		l.stopped = make(chan struct{})
		go l.writer()
	}
	return l, nil
}

func (l *Log) segDir() string { return filepath.Join(l.dir, "segments") }

// Size is the number of durable records.
func (l *Log) Size() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// Origin is the log's origin line.
func (l *Log) Origin() string { return l.opts.Origin }

// Append writes rec with the next index as its seq (rec.Seq is not read) and returns when
// it is durable. If the record cannot be made durable the error says so, and nothing about
// it was acknowledged. Append keeps nothing of rec: the caller may reuse it once Append
// returns. A record whose members do not fit its kind is refused before it is written:
// the log holds only what audit verify accepts.
func (l *Log) Append(ctx context.Context, rec *Record) (Receipt, error) {
	index, leaf, err := l.append(ctx, rec)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Origin: l.opts.Origin, Index: index, Leaf: append(make([]byte, 0, HashSize), leaf[:]...)}, nil
}

// AppendReceipt is Append that appends the record's receipt, as Receipt.Append writes it,
// to dst instead of returning a Receipt: the gateway's way, with no leaf of its own.
func (l *Log) AppendReceipt(ctx context.Context, rec *Record, dst []byte) ([]byte, error) {
	index, leaf, err := l.append(ctx, rec)
	if err != nil {
		return dst, err
	}
	return Receipt{Origin: l.opts.Origin, Index: index, Leaf: leaf[:]}.Append(dst), nil
}

// append makes rec durable and returns its index and leaf hash. The leaf is a copy taken
// before the request goes back to the pool: another Append reuses the request at once.
func (l *Log) append(ctx context.Context, rec *Record) (index uint64, leaf [HashSize]byte, err error) {
	if err := checkKind(rec); err != nil {
		return 0, leaf, fmt.Errorf("audit record %s: %w", rec.RequestID, err)
	}
	req := l.newRequest(rec)
	l.closeMu.RLock()
	if l.closed || l.reqs == nil {
		l.closeMu.RUnlock()
		return 0, leaf, ErrClosed
	}
	select {
	case l.reqs <- req:
	case <-ctx.Done():
		l.closeMu.RUnlock()
		return 0, leaf, ctx.Err()
	}
	l.closeMu.RUnlock()
	// Once queued, the record may become durable whatever the caller does, so wait for
	// the answer rather than ctx: an exchange must not be reported unrecorded when it was
	// recorded.
	res := <-req.done
	leaf = req.sum
	l.requests.Put(req)
	if res.err != nil {
		return 0, [HashSize]byte{}, res.err
	}
	return res.index, leaf, nil
}

// newRequest encodes rec into a reused request.
func (l *Log) newRequest(rec *Record) *appendReq {
	req, _ := l.requests.Get().(*appendReq)
	if req == nil {
		req = &appendReq{done: make(chan appendResult, 1), leaf: sm3.New()}
	}
	req.buf, _ = l.recordBufs.Get().(*[]byte)
	if req.buf == nil {
		req.buf = new([]byte)
	}
	*req.buf, req.split = rec.appendEncoded((*req.buf)[:0])
	head := (*req.buf)[:req.split]
	req.leaf.Reset()
	req.leaf.Write(leafPrefix[:])
	req.leaf.Write(head)
	req.crc = crc32.Update(0, castagnoli, head)
	return req
}

// leafPrefix is RFC 6962's domain separation byte of a leaf hash (Hasher.HashLeaf).
var leafPrefix = [1]byte{0}

// releaseBuffer keeps a framed request's encoding buffer for the next record.
func (l *Log) releaseBuffer(req *appendReq) {
	if cap(*req.buf) <= maxKeptRecordBuffer {
		l.recordBufs.Put(req.buf)
	}
	req.buf = nil
}

// writer is the single goroutine that writes: it takes every record waiting, writes them
// with one fsync, and answers each (group commit). A checkpoint is signed every interval
// while records arrive.
func (l *Log) writer() {
	defer close(l.stopped)
	tick := time.NewTicker(l.opts.CheckpointInterval)
	defer tick.Stop()
	prune := time.NewTicker(pruneEvery)
	defer prune.Stop()
	l.prune(time.Now())
	batch := make([]*appendReq, 0, l.opts.MaxBatch)
	hold := time.NewTimer(time.Hour)
	hold.Stop()
	for {
		select {
		case req := <-l.reqs:
			batch = l.gather(append(batch[:0], req))
			batch = l.holdOpen(batch, hold)
			l.commit(batch)
			clear(batch)
		case <-tick.C:
			l.checkpointInBackground()
		case sw := <-l.signers:
			sw.done <- l.swapSigner(sw.signer)
		case done := <-l.ckptNow:
			l.checkpointIfGrown()
			close(done)
		case now := <-prune.C:
			l.prune(now)
		case <-l.stop:
			// Answer what is queued, then a last checkpoint.
			for {
				select {
				case r := <-l.reqs:
					l.commit([]*appendReq{r})
					continue
				default:
				}
				break
			}
			l.checkpointIfGrown()
			return
		}
	}
}

// gather adds to batch every request already queued. Before it looks the second time it
// yields once: handlers that are runnable are mostly about to append, and letting them
// queue first roughly doubles the records per fsync when cores are few (7 → 14 in
// loadtest/bench's audit row), which halves the fsyncs and their CPU.
func (l *Log) gather(batch []*appendReq) []*appendReq {
	for pass := range 2 {
		if pass == 1 {
			runtime.Gosched()
		}
		for len(batch) < l.opts.MaxBatch {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
				continue
			default:
			}
			break
		}
	}
	return batch
}

// commit makes a batch durable and answers it. On a write or sync error the write is taken
// back (undo), so the segment's records end where they durably ended, and every record of
// the batch is refused.
func (l *Log) commit(batch []*appendReq) {
	start := time.Now()
	results, err := l.write(batch)
	if err != nil {
		msg := err.Error()
		if l.failing.Swap(&msg) == nil {
			l.log.Error("audit records cannot be made durable; exchanges are refused until writes succeed", "error", err)
		}
		l.failures.Add(uint64(len(batch)))
		for _, r := range batch {
			r.done <- appendResult{err: fmt.Errorf("audit log: %w", err)}
		}
		return
	}
	if l.failing.Swap(nil) != nil {
		l.log.Info("audit log writes succeed again")
	}
	l.appended.Add(uint64(len(batch)))
	if l.opts.OnCommit != nil {
		l.opts.OnCommit(len(batch), time.Since(start))
	}
	for i, r := range batch {
		r.done <- results[i]
	}
}

func (l *Log) write(batch []*appendReq) ([]appendResult, error) {
	seg := l.segments[len(l.segments)-1]
	if seg.end >= l.opts.SegmentBytes && seg.count() > 0 {
		next, err := l.rotate()
		if err != nil {
			return nil, err
		}
		seg = next
	}
	start := l.size
	buf := l.wbuf[:0]
	offsets := l.offsets[:0]
	results := l.results[:0]
	for i, r := range batch {
		index := start + uint64(i)
		offsets = append(offsets, seg.end+int64(len(buf)))
		b := *r.buf
		buf = appendPrehashedFrame(buf, r, b[:r.split], index, b[r.split:])
		l.releaseBuffer(r)
		results = append(results, appendResult{index: index})
	}
	l.offsets, l.results = offsets, results
	// The batch buffer is kept for the next batch (it was a fifth of the gateway's
	// allocated bytes), unless a burst made it large.
	if cap(buf) <= maxKeptBatchBuffer {
		l.wbuf = buf
	} else {
		l.wbuf = nil
	}
	l.waitGrowthBefore(seg.end + int64(len(buf)))
	if _, err := seg.f.WriteAt(buf, seg.end); err != nil {
		return nil, l.undo(seg, len(buf), err)
	}
	if err := l.sync(seg, seg.end+int64(len(buf))); err != nil {
		return nil, l.undo(seg, len(buf), err)
	}
	nodes := &l.nodes
	nodes.buf = nodes.buf[:0]
	rng := l.rng
	// The range keeps leaf hashes on its right border, so they get memory of their own,
	// not the requests' reused sums.
	leaves := l.leafRoom(len(batch))
	for _, r := range batch {
		at := len(leaves)
		leaves = append(leaves, r.sum[:]...)
		if err := rng.Append(leaves[at:len(leaves):len(leaves)], nodes.visit); err != nil {
			return nil, err
		}
	}
	l.leaves = leaves
	// Tree nodes are derived data: kept in memory (proofs read them there), written and
	// made durable by the next checkpoint before it is signed, and rebuilt from the
	// records after a crash (rebuildTree). The commit path writes the records alone.
	l.mu.Lock()
	l.tree.mem.add(nodes.buf)
	seg.end += int64(len(buf))
	seg.offsets = append(seg.offsets, offsets...)
	l.size = start + uint64(len(batch))
	l.mu.Unlock()
	return results, nil
}

// leafBlock is how many leaf hashes a block of Log.leaves holds: the range keeps one
// leaf at most on its border, so an old block is soon garbage, and a batch costs an
// allocation per leafBlock records instead of one each.
const leafBlock = 128

// leafRoom returns l.leaves with room for n more leaf hashes: the block in use, or a new
// one when it is full. Bytes of a block once handed to the range are never written again
// (the writer only appends), so a leaf the range keeps stays its own.
func (l *Log) leafRoom(n int) []byte {
	if cap(l.leaves)-len(l.leaves) < n*HashSize {
		l.leaves = make([]byte, 0, max(n, leafBlock)*HashSize)
	}
	return l.leaves
}

// sync makes the segment durable up to dataEnd. The segment is grown by zeros ahead of
// its records, a step at a time, so that most commits overwrite blocks the file already
// has: fdatasync then flushes data alone, where an append's fsync also commits the
// file system's journal (its new size) — under load about half the time and the CPU (see
// loadtest/bench's audit commit column). The growth itself — zeros written and a full
// fsync — runs beside the commits (startGrowth) once half the room is used, so that no
// exchange waits for it; only a batch that outruns it does the growth itself, as before.
func (l *Log) sync(seg *segment, dataEnd int64) error {
	l.finishGrowth(false)
	if dataEnd <= seg.alloc {
		if dataEnd+segmentGrowth/2 > seg.alloc {
			l.startGrowth(seg)
		}
		return fdatasync(seg.f)
	}
	from := max(dataEnd, seg.alloc)
	grown := dataEnd + segmentGrowth
	if err := l.writeZeros(seg, from, grown-from); err != nil {
		// No room to grow (a nearly full disk): the records alone, as an append, so
		// that what fits is still accepted.
		if err := seg.f.Truncate(from); err != nil {
			return err
		}
		grown = from
	}
	if err := seg.f.Sync(); err != nil {
		return err
	}
	seg.alloc = grown
	return nil
}

// growth is a segment being grown by zeros beside the writer: [from, to) is being
// written, and done answers once it is durable. Only the writer starts and finishes one.
type growth struct {
	seg      *segment
	from, to int64
	done     chan error
}

// startGrowth grows seg by segmentGrowth past its room in another goroutine, unless a
// growth is already running. The writer writes no record at or past from until it has
// finished (waitGrowthBefore), so the zeros never land on a record.
func (l *Log) startGrowth(seg *segment) {
	if l.grow != nil {
		return
	}
	if l.zeros == nil {
		l.zeros = make([]byte, segmentGrowth)
	}
	g := &growth{seg: seg, from: seg.alloc, to: seg.alloc + segmentGrowth, done: make(chan error, 1)}
	l.grow = g
	zeros := l.zeros // read only: safe beside the writer's own use
	go func() {
		err := writeZerosFrom(seg.f, zeros, g.from, g.to-g.from)
		if err == nil {
			err = seg.f.Sync()
		}
		g.done <- err
	}()
}

// finishGrowth takes the result of the growth in progress, waiting for it when wait is
// set; a growth that succeeded becomes the segment's room, one that failed leaves it as
// it was (the next commit past the room grows, or appends, itself).
func (l *Log) finishGrowth(wait bool) {
	g := l.grow
	if g == nil {
		return
	}
	var err error
	if wait {
		err = <-g.done
	} else {
		select {
		case err = <-g.done:
		default:
			return
		}
	}
	l.grow = nil
	if err != nil {
		l.log.Warn("audit segment not grown ahead of its records; commits grow it themselves", "segment", g.seg.path, "error", err)
		return
	}
	if g.seg.alloc == g.from {
		g.seg.alloc = g.to
	}
}

// waitGrowthBefore finishes the growth in progress when a write reaching end would touch
// the range it is zeroing.
func (l *Log) waitGrowthBefore(end int64) {
	if l.grow != nil && end > l.grow.from {
		l.finishGrowth(true)
	}
}

// segmentGrowth is how far ahead of its records an active segment is grown.
const segmentGrowth = 256 << 10

// writeZeros writes n zero bytes into seg at off, from one buffer the writer keeps (a
// growth step every few hundred records would otherwise allocate 256 KiB).
func (l *Log) writeZeros(seg *segment, off, n int64) error {
	if l.zeros == nil {
		l.zeros = make([]byte, segmentGrowth)
	}
	return writeZerosFrom(seg.f, l.zeros, off, n)
}

func writeZerosFrom(f *os.File, zeros []byte, off, n int64) error {
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := f.WriteAt(zeros[:k], off); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

// undo takes back a failed write of n bytes at the segment's durable end, so that no
// partial frame stays behind a record that will be acknowledged later: what it added past
// the grown zeros is cut, what it wrote over them is zeroed again. The zeros stay: room
// the log keeps for its records on a disk that is filling up.
func (l *Log) undo(seg *segment, n int, cause error) error {
	l.finishGrowth(true)
	err := seg.f.Truncate(seg.alloc)
	if err == nil && seg.alloc > seg.end {
		err = l.writeZeros(seg, seg.end, min(int64(n), seg.alloc-seg.end))
	}
	if err == nil {
		err = seg.f.Sync()
	}
	if err != nil {
		return errors.Join(cause, fmt.Errorf("take back a failed write to segment %s: %w", seg.path, err))
	}
	return cause
}

// seal cuts the segment's zeros (and anything else) after its durable end, durably.
func (l *Log) seal(seg *segment) error {
	l.finishGrowth(true)
	if err := seg.f.Truncate(seg.end); err != nil {
		return fmt.Errorf("cut back segment %s: %w", seg.path, err)
	}
	if err := seg.f.Sync(); err != nil {
		return fmt.Errorf("sync segment %s: %w", seg.path, err)
	}
	seg.alloc = seg.end
	return nil
}

// rotate seals the active segment and begins the next, with its start state beside it.
func (l *Log) rotate() (*segment, error) {
	if err := l.seal(l.segments[len(l.segments)-1]); err != nil {
		return nil, err
	}
	next, err := l.createSegment(l.size, l.rng)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.segments = append(l.segments, next)
	l.mu.Unlock()
	return next, nil
}

func (l *Log) createSegment(first uint64, rng *compact.Range) (*segment, error) {
	path := filepath.Join(l.segDir(), segmentName(first))
	if err := writeStartState(path, rng); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	// A segment that could not be begun is removed, so that the next attempt (after the
	// disk has room again) does not find it in the way.
	fail := func(err error) (*segment, error) {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if _, err := f.Write(segmentHeader(first)); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := syncDir(l.segDir()); err != nil {
		return fail(err)
	}
	return &segment{first: first, path: path, f: f, end: headerSize, alloc: headerSize}, nil
}

// Failing returns the reason appends are being refused, or "" when they succeed.
func (l *Log) Failing() string {
	if p := l.failing.Load(); p != nil {
		return *p
	}
	return ""
}

// Stats are counters for metrics.
type Stats struct {
	Size, Appended, Failed uint64
	Failing                string
	// Held is how many group commits the writer held open for more records
	// (Options.CommitDelay).
	Held           uint64
	CheckpointSize uint64
	// CheckpointAt is when the latest checkpoint was signed; before the first, when the log
	// was opened: records past CheckpointSize have waited for a checkpoint since at most then.
	CheckpointAt time.Time
}

// Stats reports the log's counters.
func (l *Log) Stats() Stats {
	s := Stats{Size: l.Size(), Appended: l.appended.Load(), Failed: l.failures.Load(), Failing: l.Failing(), Held: l.held.Load(), CheckpointAt: l.opened}
	if c := l.ckpt.Load(); c != nil {
		s.CheckpointSize = c.Size
		s.CheckpointAt = c.SignedAt
	}
	return s
}

// Close stops accepting appends, answers those queued, writes a last checkpoint and
// closes the files.
func (l *Log) Close() error {
	l.closeMu.Lock()
	if l.closed {
		l.closeMu.Unlock()
		return nil
	}
	l.closed = true
	l.closeMu.Unlock()
	if l.stop != nil {
		close(l.stop)
		<-l.stopped
	}
	return l.closeFiles()
}

func (l *Log) closeFiles() error {
	l.finishGrowth(true) // the writer has stopped: no growth may write after the close
	var errs []error
	// A log closed cleanly has no zeros after its records.
	if n := len(l.segments); n > 0 && l.segments[n-1].f != nil && l.segments[n-1].alloc > l.segments[n-1].end {
		errs = append(errs, l.seal(l.segments[n-1]))
	}
	for _, s := range l.segments {
		if s.f != nil {
			errs = append(errs, s.f.Close())
		}
	}
	if l.tree.f != nil {
		errs = append(errs, l.tree.f.Sync(), l.tree.f.Close())
	}
	if l.ckptFile != nil {
		errs = append(errs, l.ckptFile.Close())
	}
	if l.lock != nil {
		errs = append(errs, l.lock.Close()) // last: another writer may begin once it goes
		l.lock = nil
	}
	return errors.Join(errs...)
}

// segmentOf returns the segment holding record index, under mu.
func (l *Log) segmentOf(index uint64) *segment {
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].first > index }) - 1
	if i < 0 {
		return nil
	}
	return l.segments[i]
}

// Record returns the stored bytes of record index.
func (l *Log) Record(index uint64) ([]byte, error) {
	l.mu.RLock()
	if size := l.size; index >= size {
		l.mu.RUnlock()
		return nil, fmt.Errorf("record %d: the log has %d records", index, size) // size, not l.size: read under mu, which the writer holds to set it
	}
	seg := l.segmentOf(index)
	if seg == nil || index-seg.first >= seg.count() {
		l.mu.RUnlock()
		return nil, fmt.Errorf("record %d: no longer kept (retention)", index)
	}
	off := seg.offsets[index-seg.first]
	f := seg.f
	l.mu.RUnlock()
	var hdr [frameOverhead]byte
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return nil, fmt.Errorf("record %d: %w", index, err)
	}
	rec := make([]byte, binary.BigEndian.Uint32(hdr[:4]))
	if _, err := f.ReadAt(rec, off+frameOverhead); err != nil {
		return nil, fmt.Errorf("record %d: %w", index, err)
	}
	return rec, nil
}

// Root returns the tree head of the first size records.
func (l *Log) Root(size uint64) ([]byte, error) {
	if size > l.Size() {
		return nil, fmt.Errorf("root of %d records: the log has %d", size, l.Size())
	}
	return l.tree.root(size)
}

// InclusionProof proves record index in the tree of size records.
func (l *Log) InclusionProof(index, size uint64) ([][]byte, error) {
	if size > l.Size() {
		return nil, fmt.Errorf("inclusion proof in %d records: the log has %d", size, l.Size())
	}
	return l.tree.inclusion(index, size)
}

// ConsistencyProof proves that the tree of size2 records extends that of size1.
func (l *Log) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	if size2 > l.Size() {
		return nil, fmt.Errorf("consistency proof to %d records: the log has %d", size2, l.Size())
	}
	return l.tree.consistency(size1, size2)
}
