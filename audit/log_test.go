package audit

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

func TestNodePositionsAreTheAppendOrder(t *testing.T) {
	rng := treeFactory.NewEmptyRange(0)
	var pos uint64
	for i := range uint64(300) {
		err := rng.Append(Hasher{}.HashLeaf([]byte{byte(i)}), func(id compact.NodeID, _ []byte) {
			if got := nodePos(id); got != pos {
				t.Fatalf("node %d/%d emitted %dth, nodePos says %d", id.Level, id.Index, pos, got)
			}
			pos++
		})
		if err != nil {
			t.Fatal(err)
		}
		if nodesFor(i+1) != pos {
			t.Fatalf("nodesFor(%d) = %d, emitted %d", i+1, nodesFor(i+1), pos)
		}
	}
}

func TestAppendReopenProveVerify(t *testing.T) {
	dir := t.TempDir()
	s := testSigner(t, "gw-1-audit")
	l := openTestLog(t, dir, s, Options{SegmentBytes: 16 << 10})
	receipts := appendN(t, l, 500, 16)
	if len(receipts) != 500 || l.Size() != 500 {
		t.Fatalf("%d receipts, size %d", len(receipts), l.Size())
	}
	for i := range uint64(500) {
		rec, err := l.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(Hasher{}.HashLeaf(rec), receipts[i].Leaf) {
			t.Fatalf("record %d does not hash to its receipt's leaf", i)
		}
		r, err := ParseRecord(rec)
		if err != nil || r.Seq != i {
			t.Fatalf("record %d: %v seq %d", i, err, r.Seq)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	c := l.Checkpoint()
	if c == nil || c.Size != 500 {
		t.Fatalf("no checkpoint at close: %+v", c)
	}
	segs, _ := listSegments(dir + "/segments")
	if len(segs) < 3 {
		t.Errorf("%d segments at 16 KiB each", len(segs))
	}

	l = openTestLog(t, dir, s, Options{SegmentBytes: 16 << 10})
	defer l.Close()
	if l.Size() != 500 {
		t.Fatalf("reopened with %d records", l.Size())
	}
	root, err := l.Root(500)
	if err != nil || !bytes.Equal(root, c.Root) {
		t.Fatalf("root after reopen differs from the checkpoint: %v", err)
	}
	keys := loadKeys(t, dir)
	if _, err := OpenCheckpoint(c.Note, keys); err != nil {
		t.Fatalf("checkpoint does not verify: %v\n%s", err, c.Note)
	}
	// Inclusion and consistency proofs for random indexes and sizes verify; a proof for
	// another leaf does not.
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		size := 1 + rnd.Uint64N(500)
		index := rnd.Uint64N(size)
		p, err := l.InclusionProof(index, size)
		if err != nil {
			t.Fatal(err)
		}
		rootN, _ := l.Root(size)
		if err := proof.VerifyInclusion(Hasher{}, index, size, receipts[index].Leaf, p, rootN); err != nil {
			t.Fatalf("inclusion %d in %d: %v", index, size, err)
		}
		other := (index + 1) % size
		if other != index {
			if err := proof.VerifyInclusion(Hasher{}, index, size, receipts[other].Leaf, p, rootN); err == nil {
				t.Fatalf("proof for %d verified leaf %d", index, other)
			}
		}
		size1 := rnd.Uint64N(size + 1)
		cp, err := l.ConsistencyProof(size1, size)
		if err != nil {
			t.Fatal(err)
		}
		root1, _ := l.Root(size1)
		if err := proof.VerifyConsistency(Hasher{}, size1, size, cp, root1, rootN); err != nil {
			t.Fatalf("consistency %d→%d: %v", size1, size, err)
		}
	}
	// More appends continue the same tree.
	appendN(t, l, 10, 2)
	if l.Size() != 510 {
		t.Fatalf("size %d", l.Size())
	}
	l.Close()
	rep, err := Verify(dir, keys)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 510 || rep.Checkpoints != 2 || rep.LastCheckpoint != 510 || rep.UncoveredRecord != 0 {
		t.Errorf("verify report %+v", rep)
	}
}

// TestRecoversACutSegmentHeader: a crash while a new segment was being begun leaves a file
// shorter than its header; the log opens, finishes it, and goes on.
func TestRecoversACutSegmentHeader(t *testing.T) {
	dir := t.TempDir()
	s := testSigner(t, "gw-1-audit")
	l := openTestLog(t, dir, s, Options{SegmentBytes: 4 << 10})
	appendN(t, l, 40, 1)
	l.Close()
	// A new segment after the last, cut after 5 header bytes.
	l2 := openTestLog(t, dir, s, Options{SegmentBytes: 4 << 10})
	size := l2.Size()
	l2.Close()
	cut := dir + "/segments/" + segmentName(size)
	if err := os.WriteFile(cut, []byte("GGAUD"), 0o600); err != nil {
		t.Fatal(err)
	}
	l3 := openTestLog(t, dir, s, Options{SegmentBytes: 4 << 10})
	defer l3.Close()
	if l3.Size() != size {
		t.Fatalf("size %d after repair, want %d", l3.Size(), size)
	}
	appendN(t, l3, 5, 1)
	l3.Close()
	if _, err := Verify(dir, loadKeys(t, dir)); err != nil {
		t.Fatal(err)
	}
}

// Periodic checkpoints are written beside the appends, not between them: while one is
// being written appends still complete; while appends go on, checkpoints keep appearing,
// each names a size whose root is the log's; and the log verifies with all of them.
func TestCheckpointsInBackgroundWhileAppending(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testSigner(t, "gw-1-audit"), Options{CheckpointInterval: 10 * time.Millisecond})

	// A checkpoint that never finishes (its lock held) must not hold up appends, across
	// many ticks.
	l.ckptMu.Lock()
	appended := make(chan struct{})
	go func() { appendN(t, l, 200, 8); close(appended) }()
	select {
	case <-appended:
	case <-time.After(30 * time.Second):
		t.Fatal("appends waited for a checkpoint being written")
	}
	l.ckptMu.Unlock()

	seen := map[uint64]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(seen) < 5 && time.Now().Before(deadline) {
		appendN(t, l, 50, 8)
		if c := l.Checkpoint(); c != nil && !seen[c.Size] {
			seen[c.Size] = true
			root, err := l.Root(c.Size)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(root, c.Root) {
				t.Fatalf("checkpoint of %d records has root %x, the log %x", c.Size, c.Root, root)
			}
		}
	}
	if len(seen) < 5 {
		t.Fatalf("only %d distinct checkpoints while appending for 10 s", len(seen))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if c := l.Checkpoint(); c == nil || c.Size != l.Size() {
		t.Fatalf("the last checkpoint does not cover the log at close: %+v, size %d", c, l.Size())
	}
	res, err := Verify(dir, loadKeys(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if res.Checkpoints < 5 {
		t.Errorf("verify saw %d checkpoints, want at least 5", res.Checkpoints)
	}
}

// TestOnCommitCountsEveryDurableRecord: the commit hook sees every record once, in batches
// when appenders are concurrent, with the time each commit took.
func TestOnCommitCountsEveryDurableRecord(t *testing.T) {
	var mu sync.Mutex
	var commits, records int
	var took time.Duration
	l := openTestLog(t, t.TempDir(), testSigner(t, "gw-1-audit"), Options{OnCommit: func(n int, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		commits, records, took = commits+1, records+n, took+d
	}})
	defer l.Close()
	appendN(t, l, 400, 16)
	mu.Lock()
	defer mu.Unlock()
	if records != 400 {
		t.Errorf("the hook saw %d records, 400 were appended", records)
	}
	if commits == 0 || commits >= 400 {
		t.Errorf("%d commits for 400 records from 16 appenders: no group commit", commits)
	}
	if took <= 0 {
		t.Errorf("%d commits took %v", commits, took)
	}
}

// TestGrownSegmentEndsAtItsRecords: an open log's active segment is grown by zeros ahead
// of its records; a crash leaves them, and the log opens, appends over them and verifies;
// a clean close cuts them; anything but zeros after the records is not a grown tail.
func TestGrownSegmentEndsAtItsRecords(t *testing.T) {
	dir := t.TempDir()
	s := testSigner(t, "gw-1-audit")
	l := openTestLog(t, dir, s, Options{})
	appendN(t, l, 100, 4)
	seg := filepath.Join(dir, "segments", segmentName(0))
	l.mu.RLock()
	end := l.segments[0].end
	l.mu.RUnlock()
	if info, err := os.Stat(seg); err != nil || info.Size() <= end {
		t.Fatalf("the active segment was not grown ahead of its records (end %d): %v %v", end, info.Size(), err)
	}

	crashed := copyDir(t, dir) // what a crash leaves
	c := openTestLog(t, crashed, s, Options{})
	if c.Size() != 100 {
		t.Fatalf("after a crash with a grown segment the log holds %d records, want 100", c.Size())
	}
	appendN(t, c, 50, 4)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if res, err := Verify(crashed, loadKeys(t, crashed)); err != nil || res.Records != 150 {
		t.Fatalf("verify after a crash and more appends: %+v %v", res, err)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(seg)
	if err != nil || info.Size() != end {
		t.Fatalf("closed cleanly, the segment is %d bytes, its records end at %d", info.Size(), end)
	}
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(append(make([]byte, 64), 'x'))
	f.Close()
	wantFault(t, "zeros then garbage", dir, loadKeys(t, dir), 100, -1, "a frame claims 0 bytes")
}

// TestCommitsWriteNoTreeNodeAndProofsReadThemFromMemory: a commit writes its records and
// nothing else (the tree nodes of the records since the last checkpoint are in memory
// only), and roots and proofs of a running log are still right for every size, whether
// their nodes are in tree.hashes (before a checkpoint), in memory (after it) or both.
// After a checkpoint, tree.hashes holds exactly the nodes of the records it covers. The
// sizes cross the in-memory chunks' boundaries (2,048 nodes, about 1,024 records).
func TestCommitsWriteNoTreeNodeAndProofsReadThemFromMemory(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testSigner(t, "gw-1-audit"), Options{CheckpointInterval: time.Hour})
	defer l.Close()
	treeBytes := func() int64 {
		t.Helper()
		info, err := os.Stat(filepath.Join(dir, "tree.hashes"))
		if err != nil {
			t.Fatal(err)
		}
		return info.Size()
	}
	leaves := make([][]byte, 0, 2817)
	add := func(n int) {
		t.Helper()
		rs := appendN(t, l, n, 8)
		from := uint64(len(leaves))
		for i := range uint64(n) {
			leaves = append(leaves, rs[from+i].Leaf)
		}
	}
	check := func(when string) {
		t.Helper()
		roots := []([]byte){Hasher{}.EmptyRoot()}
		rng := treeFactory.NewEmptyRange(0)
		for _, leaf := range leaves {
			if err := rng.Append(leaf, nil); err != nil {
				t.Fatal(err)
			}
			r, _ := rng.GetRootHash(nil)
			roots = append(roots, r)
		}
		for size := uint64(1); size <= uint64(len(leaves)); size++ {
			got, err := l.Root(size)
			if err != nil || !bytes.Equal(got, roots[size]) {
				t.Fatalf("%s: root of %d: %x, %v; want %x", when, size, got, err, roots[size])
			}
			for _, index := range []uint64{0, size / 2, size - 1} {
				p, err := l.InclusionProof(index, size)
				if err != nil {
					t.Fatalf("%s: inclusion %d in %d: %v", when, index, size, err)
				}
				if err := proof.VerifyInclusion(Hasher{}, index, size, leaves[index], p, roots[size]); err != nil {
					t.Fatalf("%s: inclusion %d in %d: %v", when, index, size, err)
				}
				if other := (index + 1) % size; other != index {
					if proof.VerifyInclusion(Hasher{}, index, size, leaves[other], p, roots[size]) == nil {
						t.Fatalf("%s: the proof of %d in %d verified leaf %d", when, index, size, other)
					}
				}
			}
			size1 := size / 3
			cp, err := l.ConsistencyProof(size1, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(Hasher{}, size1, size, cp, roots[size1], roots[size]); err != nil {
				t.Fatalf("%s: consistency %d→%d: %v", when, size1, size, err)
			}
		}
	}

	add(1500)
	if n := treeBytes(); n != 0 {
		t.Fatalf("1500 appends wrote %d bytes of tree nodes; the commit path writes records only", n)
	}
	check("nodes in memory")
	if err := l.checkpointNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, want := treeBytes(), int64(nodesFor(1500))*HashSize; n != want {
		t.Fatalf("after the checkpoint of 1500 records tree.hashes has %d bytes, want %d", n, want)
	}
	add(1317)
	if n, want := treeBytes(), int64(nodesFor(1500))*HashSize; n != want {
		t.Fatalf("commits after the checkpoint wrote tree nodes: %d bytes, want %d", n, want)
	}
	check("nodes in the file and in memory")
	if err := l.checkpointNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("nodes in the file")
	// The offline reader of the directory proves from the file alone.
	p, err := Prove(dir, 1000, 2817)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := l.Root(2817)
	if err := proof.VerifyInclusion(Hasher{}, 1000, 2817, leaves[1000], p, root); err != nil {
		t.Fatalf("offline proof after the checkpoint: %v", err)
	}
}

// TestTreeNodesKeptWhenTheirWriteFails: a checkpoint that cannot write the tree nodes
// signs nothing and keeps them in memory — proofs stay right — and the next one writes
// them all, with the nodes appended since, so that the file's proofs verify.
func TestTreeNodesKeptWhenTheirWriteFails(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testSigner(t, "gw-1-audit"), Options{CheckpointInterval: time.Hour})
	defer l.Close()
	lt := &leafTracker{t: t, l: l}
	add, rootOf := lt.add, lt.rootOf
	add(300)
	rw := l.tree.f
	ro, err := os.Open(filepath.Join(dir, "tree.hashes"))
	if err != nil {
		t.Fatal(err)
	}
	l.tree.f = ro // every write to it fails
	if err := l.checkpointNow(context.Background()); err == nil {
		t.Fatal("a checkpoint was signed although its tree nodes could not be written")
	}
	if c := l.Checkpoint(); c != nil {
		t.Fatalf("checkpoint of %d records signed without its tree", c.Size)
	}
	for _, size := range []int{1, 150, 300} {
		if r, err := l.Root(uint64(size)); err != nil || !bytes.Equal(r, rootOf(size)) {
			t.Fatalf("root of %d after the failed write: %v", size, err)
		}
	}
	add(200)
	l.tree.f = rw
	ro.Close()
	if err := l.checkpointNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, "tree.hashes"))
	if err != nil || info.Size() != int64(nodesFor(500))*HashSize {
		t.Fatalf("tree.hashes after the retried checkpoint: %v, %d bytes; want %d", err, info.Size(), nodesFor(500)*HashSize)
	}
	for _, i := range []uint64{0, 299, 300, 499} {
		p, err := Prove(dir, i, 500)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(Hasher{}, i, 500, lt.leaves[i], p, rootOf(500)); err != nil {
			t.Fatalf("offline proof of %d in 500: %v", i, err)
		}
	}
}

// TestTreeNodesRewrittenAfterFailedSync: a checkpoint whose tree nodes were written but
// could not be made durable (fsync failed: the kernel may have dropped the written pages,
// as it does after a writeback error) signs nothing and keeps the nodes in memory; the
// next checkpoint writes them again with its own, so that tree.size never covers nodes
// that are not in tree.hashes. /dev/null stands for the file whose pages were dropped:
// its writes succeed and go nowhere, its fsync fails (EINVAL).
// (Failed before: the nodes were let go once written, the next checkpoint wrote only its
// own, and the file held zeros where tree.size and the signed checkpoint said it had the
// first 300 records' nodes.)
func TestTreeNodesRewrittenAfterFailedSync(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testSigner(t, "gw-1-audit"), Options{CheckpointInterval: time.Hour})
	defer l.Close()
	lt := &leafTracker{t: t, l: l}
	add, rootOf := lt.add, lt.rootOf
	add(300)
	rw := l.tree.f
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	l.tree.f = null
	if err := l.checkpointNow(context.Background()); err == nil {
		t.Fatal("a checkpoint was signed although its tree nodes could not be made durable")
	}
	l.tree.f = rw
	for _, size := range []int{1, 150, 300} {
		if r, err := l.Root(uint64(size)); err != nil || !bytes.Equal(r, rootOf(size)) {
			t.Fatalf("root of %d after the failed sync: %x, %v", size, r, err)
		}
	}
	add(200)
	if err := l.checkpointNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{0, 150, 299, 300, 499} {
		p, err := Prove(dir, i, 500)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(Hasher{}, i, 500, lt.leaves[i], p, rootOf(500)); err != nil {
			t.Fatalf("offline proof of %d in the checkpoint of 500: %v", i, err)
		}
	}
	l.Close()
	if _, err := Verify(dir, loadKeys(t, dir)); err != nil {
		t.Fatal(err)
	}
}

// leafTracker appends records to a log and keeps their leaves, so that a test can compute
// the root of any size on its own, without the log's tree.
type leafTracker struct {
	t      *testing.T
	l      *Log
	leaves [][]byte
}

func (lt *leafTracker) add(n int) {
	rs := appendN(lt.t, lt.l, n, 8)
	for range n {
		lt.leaves = append(lt.leaves, rs[uint64(len(lt.leaves))].Leaf)
	}
}

func (lt *leafTracker) rootOf(size int) []byte {
	rng := treeFactory.NewEmptyRange(0)
	for _, leaf := range lt.leaves[:size] {
		rng.Append(leaf, nil)
	}
	r, _ := rng.GetRootHash(nil)
	return r
}
