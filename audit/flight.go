package audit

import (
	"fmt"
	"os"
	"time"
)

// maxInFlight is how many group commits may have their fdatasync running at once.
//
// Why two (the second only beside a slow sync: besideAfter): at half load most of an exchange's wait in the slowest 1 % was the commit
// already in flight when its record arrived — it waited for that one to end, then for its
// own (BENCHMARKS.md, "The half-load tail"). With a second commit beside the first, a
// record arriving during a slow sync starts its own at once. fdatasync covers every byte
// written to the file before it is called, so the second's sync also makes the first's
// bytes durable; the answers still go in index order (flight.go: land).
const maxInFlight = 2

// besideAfter is how long a commit's sync runs before the next batch is committed beside
// it rather than after it. A sync that ends sooner than this is a typical one: the batch
// waits for it and gathers the records that arrive meanwhile, so that under load the
// records per fsync — and the CPU of an exchange — stay as with one commit at a time (two
// at once from the first record halved the batches of the bench's (e4) row and added
// 8–30 µs of CPU per exchange). A slow sync, the tail, gets a second commit beside it.
const besideAfter = 2 * time.Millisecond

// heldBatch is the batch the writer holds while one commit's sync runs, until the sync
// ends or has run besideAfter (fire).
type heldBatch struct {
	batch []*appendReq
	timer *time.Timer
	fire  <-chan time.Time // the timer's channel while armed
}

// commitOrHold commits the held batch now if nothing is in flight or the flight has run
// besideAfter; otherwise it holds it until then.
func (l *Log) commitOrHold(h *heldBatch) {
	if len(l.flights) == 0 {
		l.commitHeld(h)
		return
	}
	wait := besideAfter - time.Since(l.flights[len(l.flights)-1].start)
	if wait <= 0 {
		l.commitHeld(h)
		return
	}
	if h.fire == nil {
		h.timer.Reset(wait)
		h.fire = h.timer.C
	}
}

// commitHeld commits the held batch, if any, and disarms the timer.
func (l *Log) commitHeld(h *heldBatch) {
	if h.fire != nil {
		h.timer.Stop()
		h.fire = nil
	}
	if len(h.batch) == 0 {
		return
	}
	l.commitBatch(h.batch)
	clear(h.batch)
	h.batch = h.batch[:0]
}

// drainAll lands every flight and commits the held batch, durably: for close, key
// rotation and Export, which go on only with everything appended so far answered.
func (l *Log) drainAll(h *heldBatch) {
	l.drain()
	l.commitHeld(h)
	l.drain()
}

// flight is a batch written past the durable end whose fdatasync runs beside the writer.
// Owned by the writer; its records become the log's (size, offsets, tree) only once it and
// every flight before it are durable.
type flight struct {
	seg      *segment
	batch    []*appendReq
	first    uint64 // index of its first record
	at       int64  // offset of its first byte in seg
	n        int64  // its bytes
	offsets  []int64
	results  []appendResult
	start    time.Time // when the writer took the batch (OnCommit's duration)
	done     chan error
	received bool // done has been read
	err      error
}

// inFlightRecords is how many records are written but not yet durable.
func (l *Log) inFlightRecords() uint64 {
	var n uint64
	for _, f := range l.flights {
		n += uint64(len(f.batch))
	}
	return n
}

// frameBound is at most how many bytes the batch's frames take: its encodings, a frame
// header and a sequence number's digits each.
func frameBound(batch []*appendReq) int64 {
	var n int64
	for _, r := range batch {
		n += int64(len(*r.buf)) + frameOverhead + 20
	}
	return n
}

// commitBatch writes a batch past the records in flight and starts its fdatasync beside
// the writer; land answers it once it and every batch before it are durable. A batch that
// needs the segment grown past its room, or a new segment, waits for the flights first
// and is then made durable by the writer itself, as before there were flights.
func (l *Log) commitBatch(batch []*appendReq) {
	start := time.Now()
	seg := l.segments[len(l.segments)-1]
	if len(l.flights) > 0 && (l.writeEnd >= l.opts.SegmentBytes || l.writeEnd+frameBound(batch) > seg.alloc) {
		l.drain()
	}
	if seg.end >= l.opts.SegmentBytes && seg.count() > 0 {
		next, err := l.rotate()
		if err != nil {
			l.refuse(batch, err)
			return
		}
		seg = next
		l.writeEnd = seg.end
	}
	f := l.newFlight(seg, batch, start)
	buf := l.wbuf[:0]
	for i, r := range batch {
		index := f.first + uint64(i)
		f.offsets = append(f.offsets, f.at+int64(len(buf)))
		b := *r.buf
		buf = appendPrehashedFrame(buf, r, b[:r.split], index, b[r.split:])
		l.releaseBuffer(r)
		f.results = append(f.results, appendResult{index: index})
	}
	// The batch buffer is kept for the next batch (it was a fifth of the gateway's
	// allocated bytes), unless a burst made it large; the kernel has the bytes once
	// pwrite returns, so a flight does not need it.
	if cap(buf) <= maxKeptBatchBuffer {
		l.wbuf = buf
	} else {
		l.wbuf = nil
	}
	f.n = int64(len(buf))
	end := f.at + f.n
	l.waitGrowthBefore(end)
	l.writeEnd = end
	l.flights = append(l.flights, f)
	if _, err := seg.f.WriteAt(buf, f.at); err != nil {
		f.received, f.err = true, err
		l.fail(err)
		return
	}
	if end > seg.alloc {
		// Past the room: no flight is out (drained above); the writer grows the segment
		// and syncs it itself.
		f.received, f.err = true, l.sync(seg, end)
		l.land()
		return
	}
	l.finishGrowth(false)
	if end+segmentGrowth/2 > seg.alloc {
		l.startGrowth(seg)
	}
	l.syncJobs <- syncJob{file: seg.f, done: f.done}
}

// syncJob is one flight's fdatasync, for a syncer.
type syncJob struct {
	file *os.File
	done chan error
}

// syncer runs flights' fdatasyncs until the writer closes jobs; maxInFlight of them run,
// so that a flight never waits for another's sync to begin its own (and no goroutine is
// started per batch).
func (l *Log) syncer(jobs <-chan syncJob) {
	for j := range jobs {
		j.done <- l.syncData(j.file)
	}
}

// newFlight takes a reused flight for batch, its first index and offset after the
// flights before it.
func (l *Log) newFlight(seg *segment, batch []*appendReq, start time.Time) *flight {
	var f *flight
	if n := len(l.spareFlights); n > 0 {
		f, l.spareFlights = l.spareFlights[n-1], l.spareFlights[:n-1]
	} else {
		f = &flight{done: make(chan error, 1)}
	}
	f.seg, f.first, f.at, f.start = seg, l.size+l.inFlightRecords(), l.writeEnd, start
	f.batch = append(f.batch[:0], batch...)
	f.offsets, f.results = f.offsets[:0], f.results[:0]
	f.received, f.err = false, nil
	return f
}

func (l *Log) recycle(f *flight) {
	clear(f.batch)
	f.batch, f.seg = f.batch[:0], nil
	if len(l.spareFlights) < maxInFlight {
		l.spareFlights = append(l.spareFlights, f)
	}
}

// landed reads the result of the oldest flight's fdatasync: the writer's select.
func (l *Log) landed() chan error {
	if len(l.flights) == 0 || l.flights[0].received {
		return nil
	}
	return l.flights[0].done
}

// land finishes the oldest flight, whose result has been received: durable, its records
// become the log's and are answered; failed, it and every flight after it are refused.
func (l *Log) land() {
	f := l.flights[0]
	if f.err != nil {
		l.fail(f.err)
		return
	}
	if err := l.addDurable(f); err != nil {
		l.fail(err)
		return
	}
	// Shifted down, not resliced: the slice's two places are reused for ever.
	n := copy(l.flights, l.flights[1:])
	l.flights[n] = nil
	l.flights = l.flights[:n]
	if l.failing.Swap(nil) != nil {
		l.log.Info("audit log writes succeed again")
	}
	l.appended.Add(uint64(len(f.batch)))
	if l.opts.OnCommit != nil {
		l.opts.OnCommit(len(f.batch), time.Since(f.start))
	}
	for i, r := range f.batch {
		r.done <- f.results[i]
	}
	l.recycle(f)
}

// drain lands every flight, waiting for each.
func (l *Log) drain() {
	for len(l.flights) > 0 {
		f := l.flights[0]
		if !f.received {
			f.err, f.received = <-f.done, true
		}
		l.land()
	}
}

// fail refuses every flight: the oldest's sync (or the newest's write) failed, and a batch
// written after a failed one is not acknowledged even if its own sync said success — Linux
// reports a writeback error once per file, so a later fdatasync that succeeds says nothing
// about the earlier pages. Once every sync in flight has returned, all their bytes are
// taken back (undo), so the segment's records end where they durably ended.
func (l *Log) fail(cause error) {
	for _, f := range l.flights {
		if !f.received {
			f.err, f.received = <-f.done, true
		}
	}
	seg := l.segments[len(l.segments)-1]
	err := l.undo(seg, int(l.writeEnd-seg.end), cause)
	l.writeEnd = seg.end
	msg := err.Error()
	if l.failing.Swap(&msg) == nil {
		l.log.Error("audit records cannot be made durable; exchanges are refused until writes succeed", "error", err)
	}
	for _, f := range l.flights {
		l.failures.Add(uint64(len(f.batch)))
		for _, r := range f.batch {
			r.done <- appendResult{err: fmt.Errorf("audit log: %w", err)}
		}
		l.recycle(f)
	}
	l.flights = l.flights[:0]
}

// refuse answers a batch that was never written with err.
func (l *Log) refuse(batch []*appendReq, err error) {
	msg := err.Error()
	if l.failing.Swap(&msg) == nil {
		l.log.Error("audit records cannot be made durable; exchanges are refused until writes succeed", "error", err)
	}
	l.failures.Add(uint64(len(batch)))
	for _, r := range batch {
		if r.buf != nil {
			l.releaseBuffer(r)
		}
		r.done <- appendResult{err: fmt.Errorf("audit log: %w", err)}
	}
}

// addDurable makes a durable flight's records the log's: the tree range, the nodes kept in
// memory, the segment's end and offsets, the size.
func (l *Log) addDurable(f *flight) error {
	if f.seg.end != f.at {
		return fmt.Errorf("audit batch at offset %d lands after the durable end %d", f.at, f.seg.end)
	}
	nodes := &l.nodes
	nodes.buf = nodes.buf[:0]
	// The range keeps leaf hashes on its right border, so they get memory of their own
	// (one block per batch), not the requests' reused sums.
	leaves := make([]byte, 0, len(f.batch)*HashSize)
	for _, r := range f.batch {
		at := len(leaves)
		leaves = append(leaves, r.sum[:]...)
		if err := l.rng.Append(leaves[at:len(leaves):len(leaves)], nodes.visit); err != nil {
			return err
		}
	}
	// Tree nodes are derived data: kept in memory (proofs read them there), written and
	// made durable by the next checkpoint before it is signed, and rebuilt from the
	// records after a crash (rebuildTree). The commit path writes the records alone.
	l.mu.Lock()
	l.tree.mem.add(nodes.buf)
	f.seg.end += f.n
	f.seg.offsets = append(f.seg.offsets, f.offsets...)
	l.size = f.first + uint64(len(f.batch))
	l.mu.Unlock()
	return nil
}

// syncFile is fdatasync unless a test stands in for it.
func syncFile(opts Options) func(*os.File) error {
	if opts.syncData != nil {
		return opts.syncData
	}
	return fdatasync
}
