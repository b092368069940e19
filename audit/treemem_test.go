package audit

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
)

// receiptAt is what a consumer keeps: a record's leaf, the inclusion proof the running
// log served for it in the tree of size records, and that tree's root.
type receiptAt struct {
	index, size uint64
	leaf, root  []byte
	proof       [][]byte
}

// TestReceiptsServedFromMemoryVerifyAfterACrash: receipts served while a record's tree
// nodes were in memory only (sizes between checkpoints, more than a 64 KiB chunk of them)
// verify, after a crash that leaves tree.hashes ending at the last checkpoint and a torn,
// never-made-durable node write behind it, against the checkpoint the recovered log signs
// next: inclusion in it, and the consistency of the receipt's tree with it, from the
// directory alone (what `audit proof`, the shipper and an auditor read). Every
// acknowledged record is there. What must be refused: a receipt's proof for another leaf.
func TestReceiptsServedFromMemoryVerifyAfterACrash(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testSigner(t, "gw-1-audit"), Options{CheckpointInterval: time.Hour})
	defer l.Close()
	leaves := map[uint64][]byte{}
	add := func(n int) {
		for i, r := range appendN(t, l, n, 8) {
			leaves[i] = r.Leaf
		}
	}
	var receipts []receiptAt
	serve := func(index, size uint64) {
		p, err := l.InclusionProof(index, size)
		if err != nil {
			t.Fatal(err)
		}
		root, err := l.Root(size)
		if err != nil {
			t.Fatal(err)
		}
		receipts = append(receipts, receiptAt{index: index, size: size, leaf: leaves[index], root: root, proof: p})
	}
	add(700)
	serve(0, 700)
	serve(699, 700)
	if err := l.checkpointNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		add(450) // 2,250 records, 4,500 nodes past the checkpoint: three chunks
		size := l.Size()
		serve(size-1, size)
		serve(uint64(rand.IntN(int(size))), size)
		serve(700, size)
	}
	acked := l.Size()

	// The crash: the directory as the kernel holds it (every append returned), plus the
	// start of a checkpoint's node write that never reached the disk whole.
	crashed := copyDir(t, dir)
	junk := make([]byte, 3*HashSize+7)
	crand.Read(junk)
	tf, err := os.OpenFile(filepath.Join(crashed, "tree.hashes"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tf.Write(junk); err != nil {
		t.Fatal(err)
	}
	tf.Close()

	r := openTestLog(t, crashed, testSigner(t, "after-crash-audit"), Options{CheckpointInterval: time.Hour})
	if r.Size() != acked {
		t.Fatalf("recovered %d records, %d were acknowledged", r.Size(), acked)
	}
	appendN(t, r, 10, 2)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := LatestCheckpoint(crashed, loadKeys(t, crashed))
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != acked+10 {
		t.Fatalf("the checkpoint after the crash covers %d records, want %d", c.Size, acked+10)
	}
	for _, rc := range receipts {
		if err := proof.VerifyInclusion(Hasher{}, rc.index, rc.size, rc.leaf, rc.proof, rc.root); err != nil {
			t.Fatalf("receipt of %d in %d as served: %v", rc.index, rc.size, err)
		}
		other := leaves[(rc.index+1)%rc.size]
		if proof.VerifyInclusion(Hasher{}, rc.index, rc.size, other, rc.proof, rc.root) == nil {
			t.Fatalf("the receipt of %d in %d verified another record's leaf", rc.index, rc.size)
		}
		cp, err := ProveConsistency(crashed, rc.size, c.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(Hasher{}, rc.size, c.Size, cp, rc.root, c.Root); err != nil {
			t.Fatalf("the receipt's tree of %d is not a prefix of the checkpoint's %d after the crash: %v", rc.size, c.Size, err)
		}
		ip, err := Prove(crashed, rc.index, c.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyReceipt(Receipt{Origin: c.Origin, Index: rc.index, Leaf: rc.leaf}, c, ip); err != nil {
			t.Fatalf("receipt of %d against the checkpoint after the crash: %v", rc.index, err)
		}
	}
	if _, err := Verify(crashed, loadKeys(t, crashed)); err != nil {
		t.Fatal(err)
	}
}

// TestProofsWhileCheckpointsReuseChunks: roots and proofs served while appends fill the
// in-memory chunks and checkpoints write them out and hand them back for reuse are always
// those of the records (run it with -race): a chunk is never reused while a checkpoint
// still writes from it or a proof still reads it.
func TestProofsWhileCheckpointsReuseChunks(t *testing.T) {
	if testing.Short() {
		t.Skip("appends for a while")
	}
	dir := t.TempDir()
	l := openTestLog(t, dir, testSigner(t, "gw-1-audit"), Options{CheckpointInterval: 5 * time.Millisecond})
	defer l.Close()
	var mu sync.Mutex
	var leaves, roots [][]byte
	roots = append(roots, Hasher{}.EmptyRoot())
	rng := treeFactory.NewEmptyRange(0)
	var known atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := known.Load()
				if n == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				size := 1 + rand.Uint64N(n)
				index := rand.Uint64N(size)
				p, err := l.InclusionProof(index, size)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				mu.Lock()
				leaf, root := leaves[index], roots[size]
				mu.Unlock()
				if err := proof.VerifyInclusion(Hasher{}, index, size, leaf, p, root); err != nil {
					failed.Store("inclusion: " + err.Error())
					return
				}
				if got, err := l.Root(size); err != nil || !bytes.Equal(got, root) {
					failed.Store("root differs")
					return
				}
			}
		}()
	}
	for round := range 16 {
		rs := appendN(t, l, 200, 4)
		mu.Lock()
		from := uint64(len(leaves))
		for i := from; i < from+200; i++ {
			leaves = append(leaves, rs[i].Leaf)
			rng.Append(rs[i].Leaf, nil)
			r, _ := rng.GetRootHash(nil)
			roots = append(roots, r)
		}
		mu.Unlock()
		known.Store(uint64(len(leaves)))
		if round%5 == 0 {
			if err := l.checkpointNow(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if f := failed.Load(); f != nil {
			break
		}
	}
	close(stop)
	wg.Wait()
	if f := failed.Load(); f != nil {
		t.Fatal(f)
	}
	l.Close()
	if _, err := Verify(dir, loadKeys(t, dir)); err != nil {
		t.Fatal(err)
	}
}
