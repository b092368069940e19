package audit

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"os"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// treeFactory builds compact ranges with the SM3 hasher.
var treeFactory = &compact.RangeFactory{Hash: Hasher{}.HashChildren}

// nodePos is where node (level, index) sits in tree.hashes. Appending leaves in order
// completes perfect subtrees in post-order, so the file is append-only: before leaf m
// come 2m - popcount(m) nodes, and the node of level L ending at leaf m is the L-th to
// complete after it.
func nodePos(id compact.NodeID) uint64 {
	m := (id.Index+1)<<id.Level - 1
	return 2*m - uint64(bits.OnesCount64(m)) + uint64(id.Level)
}

// nodesFor is how many nodes a tree of n leaves has stored.
func nodesFor(n uint64) uint64 { return 2*n - uint64(bits.OnesCount64(n)) }

// nodeStore is tree.hashes: every perfect-subtree hash of the log, so that roots and
// proofs never need the records. A running log's store also has the nodes of the records
// since its last checkpoint, which are in memory only (memNodes): the writer does not
// write them on its commit path.
type nodeStore struct {
	f   *os.File
	mem *memNodes // nil for a directory opened read-only
}

// memNodes are the tree nodes not yet in tree.hashes: those from position base on, in
// order. The writer appends to nodes; the checkpoint writes a prefix of them to the file
// and only then moves base past it, so that a node is always in one of the two.
type memNodes struct {
	mu    *sync.RWMutex // the log's mu
	base  uint64        // position (in nodes) of nodes[0]; every node before is in the file
	nodes []byte
}

func (s *nodeStore) read(id compact.NodeID) ([]byte, error) {
	h := make([]byte, HashSize)
	pos := nodePos(id)
	if s.mem != nil && s.mem.copyTo(h, pos) {
		return h, nil
	}
	if _, err := s.f.ReadAt(h, int64(pos)*HashSize); err != nil {
		return nil, fmt.Errorf("read tree node %d/%d: %w", id.Level, id.Index, err)
	}
	return h, nil
}

// copyTo copies the node at pos into h when it is held in memory; false means it is in
// the file (or does not exist yet, which reading the file reports).
func (m *memNodes) copyTo(h []byte, pos uint64) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if pos < m.base {
		return false
	}
	off := (pos - m.base) * HashSize
	if off+HashSize > uint64(len(m.nodes)) {
		return false
	}
	copy(h, m.nodes[off:off+HashSize])
	return true
}

// border returns the compact range of the first n leaves, read from stored nodes.
func (s *nodeStore) border(n uint64) (*compact.Range, error) {
	ids := compact.RangeNodes(0, n, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := s.read(id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return treeFactory.NewRange(0, n, hashes)
}

// root is the tree head of the first n leaves.
func (s *nodeStore) root(n uint64) ([]byte, error) {
	if n == 0 {
		return Hasher{}.EmptyRoot(), nil
	}
	r, err := s.border(n)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

func (s *nodeStore) proof(nodes proof.Nodes) ([][]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		h, err := s.read(id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return nodes.Rehash(hashes, Hasher{}.HashChildren)
}

// inclusion proves leaf index in the tree of size leaves.
func (s *nodeStore) inclusion(index, size uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return s.proof(nodes)
}

// consistency proves that the tree of size2 extends the tree of size1.
func (s *nodeStore) consistency(size1, size2 uint64) ([][]byte, error) {
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return s.proof(nodes)
}

// appendNodes appends the perfect nodes a compact-range append reports, in order.
type nodeBatch struct {
	buf []byte
}

func (b *nodeBatch) visit(id compact.NodeID, hash []byte) { b.buf = append(b.buf, hash...) }

func putUint64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
