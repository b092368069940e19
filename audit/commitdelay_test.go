package audit

import (
	"context"
	"testing"
	"time"
)

// queueWhileWriterHeld queues n appends (records from first) while the writer waits for
// ckptMu, so that it gathers them as one batch, and returns where their errors arrive.
func queueWhileWriterHeld(t *testing.T, l *Log, n, first int) <-chan error {
	t.Helper()
	l.ckptMu.Lock()
	done := make(chan struct{})
	l.ckptNow <- done // the writer took it and now waits for ckptMu
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := l.Append(context.Background(), testRecord(first+i))
			errs <- err
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); len(l.reqs) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			l.ckptMu.Unlock()
			t.Fatalf("%d of %d appends queued", len(l.reqs), n)
		}
	}
	l.ckptMu.Unlock()
	<-done
	return errs
}

// waitHeld waits until the log has held n commits open, or fails saying what was not held.
func waitHeld(t *testing.T, l *Log, n uint64, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); l.Stats().Held < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s was not held (%d holds)", what, l.Stats().Held)
		}
	}
}

// waitCommit returns the size of the next group commit, or fails when none comes within
// a bound far beyond any commit's (it guards against a hold that never ends, not speed).
func waitCommit(t *testing.T, commits <-chan int, what string) int {
	t.Helper()
	select {
	case n := <-commits:
		return n
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no commit in 30s", what)
		return 0
	}
}

// TestCommitDelayHoldsASmallBatchForLateRecords: with a commit delay, a batch of two —
// other appenders at work — is held open, the records that arrive meanwhile join it, and
// it is written once it holds heldBatch records, without waiting out the delay (an hour
// here: a hold that ignored the batch's size would never end within the test). Every
// record of the held batch is durable and answered.
func TestCommitDelayHoldsASmallBatchForLateRecords(t *testing.T) {
	commits := make(chan int, 64)
	l := openTestLog(t, t.TempDir(), testSigner(t, "k"), Options{CheckpointInterval: time.Hour, CommitDelay: time.Hour,
		OnCommit: func(records int, _ time.Duration) { commits <- records }})
	defer l.Close()
	busy(l)
	first := queueWhileWriterHeld(t, l, 2, 0)
	waitHeld(t, l, 1, "a batch of two, with the writer free to wait,")
	late := make(chan error, heldBatch)
	for i := range heldBatch - 2 {
		go func() {
			_, err := l.Append(context.Background(), testRecord(100+i))
			late <- err
		}()
	}
	if n := waitCommit(t, commits, "held batch"); n != heldBatch {
		t.Fatalf("the held batch was committed with %d records, want %d (2 held + %d that arrived)", n, heldBatch, heldBatch-2)
	}
	for range 2 {
		if err := <-first; err != nil {
			t.Fatal(err)
		}
	}
	for range heldBatch - 2 {
		if err := <-late; err != nil {
			t.Fatal(err)
		}
	}
	if s := l.Stats(); s.Size != heldBatch || s.Held != 1 {
		t.Fatalf("size %d, held %d; want %d records, one hold", s.Size, s.Held, heldBatch)
	}
}

// TestCommitDelayNeverHoldsALoneAppender: an appender alone, appending as fast as it can,
// is never held, however long the delay: it waits for its own commit before its next
// record, so nothing could join the batch. A hold here would cost each record the whole
// delay (an hour: the test would not end).
func TestCommitDelayNeverHoldsALoneAppender(t *testing.T) {
	l := openTestLog(t, t.TempDir(), testSigner(t, "k"), Options{CheckpointInterval: time.Hour, CommitDelay: time.Hour})
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		for i := range 200 {
			if _, err := l.Append(context.Background(), testRecord(i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("a lone appender was held: %d of 200 records after 60s, %d holds", l.Size(), l.Stats().Held)
	}
	if s := l.Stats(); s.Held != 0 || s.Size != 200 {
		t.Fatalf("held %d times, size %d; want no hold, 200 records", s.Held, s.Size)
	}
}

// TestCommitDelayFruitlessHoldIsNotRepeated: after a hold that gained nothing, a lone
// appender's batches are not held again — one wasted delay, not one per record.
func TestCommitDelayFruitlessHoldIsNotRepeated(t *testing.T) {
	const delay = 50 * time.Millisecond
	l := openTestLog(t, t.TempDir(), testSigner(t, "k"), Options{CheckpointInterval: time.Hour, CommitDelay: delay})
	defer l.Close()
	busy(l)
	for err := range queueWhileWriterHeld(t, l, 2, 0) {
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	for i := range 50 {
		if _, err := l.Append(context.Background(), testRecord(10+i)); err != nil {
			t.Fatal(err)
		}
	}
	if s := l.Stats(); s.Held != 1 {
		t.Fatalf("held %d times: want the one hold of the batch of two, none for the lone appender after it", s.Held)
	}
}

// TestCloseEndsAHeldCommit: Close does not wait out a hold; the held records are made
// durable and answered, and the log reopens with them.
func TestCloseEndsAHeldCommit(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testSigner(t, "k"), Options{CheckpointInterval: time.Hour, CommitDelay: time.Hour})
	busy(l)
	errs := queueWhileWriterHeld(t, l, 3, 0)
	waitHeld(t, l, 1, "the batch")
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close waited out the hold")
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("a held record was refused at Close: %v", err)
		}
	}
	re := openTestLog(t, dir, testSigner(t, "k"), Options{CheckpointInterval: time.Hour})
	defer re.Close()
	if re.Size() != 3 {
		t.Fatalf("reopened with %d records, want the 3 held ones", re.Size())
	}
}

// TestArrivalRate: the estimate follows a steady rate, and a burst that is over fades —
// the first record after a quiet spell is not taken for the start of a stream.
func TestArrivalRate(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var r arrivalRate
	for i := range 200 { // 5,000 a second, one commit of one every 200 µs
		r = r.with(1, t0.Add(time.Duration(i)*200*time.Microsecond))
	}
	if r.perSecond < 4500 || r.perSecond > 5500 {
		t.Fatalf("steady 5000/s estimated at %.0f/s", r.perSecond)
	}
	if !r.expects(300*time.Microsecond) || r.expects(100*time.Microsecond) {
		t.Fatalf("at %.0f/s: expects one within 300µs %v (want true), within 100µs %v (want false)",
			r.perSecond, r.expects(300*time.Microsecond), r.expects(100*time.Microsecond))
	}
	quiet := r.with(1, r.at.Add(100*time.Millisecond))
	if quiet.expects(300 * time.Microsecond) {
		t.Fatalf("100ms after the stream stopped, one record is estimated at %.0f/s", quiet.perSecond)
	}
	var slow arrivalRate
	for i := range 100 { // 100 a second
		slow = slow.with(1, t0.Add(time.Duration(i)*10*time.Millisecond))
	}
	if slow.expects(time.Millisecond) {
		t.Fatalf("100 records a second estimated at %.0f/s: a 1ms hold would wait for nothing", slow.perSecond)
	}
}
