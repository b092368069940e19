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

// memNodes are the tree nodes not yet in tree.hashes: every node from position written
// on, in order, in chunks of chunkNodes (the first chunk begins at position base, at or
// before written). The writer appends; a checkpoint writes [written, its size's end) to
// the file and only then moves written past it, so that a node is always in one of the
// two. Chunks are reused once written, so that the nodes cost no allocation, and no
// copying, once the log has run for a checkpoint interval.
type memNodes struct {
	mu      *sync.RWMutex // the log's mu: every field changes under it
	base    uint64
	written uint64
	chunks  [][]byte
	free    [][]byte
}

// chunkNodes is how many nodes a chunk holds (64 KiB).
const chunkNodes = 2048

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
	if pos < m.written {
		return false
	}
	i, off := (pos-m.base)/chunkNodes, (pos-m.base)%chunkNodes*HashSize
	if i >= uint64(len(m.chunks)) || off+HashSize > uint64(len(m.chunks[i])) {
		return false
	}
	copy(h, m.chunks[i][off:off+HashSize])
	return true
}

// add appends the nodes of a commit. Writer goroutine, under mu.
func (m *memNodes) add(nodes []byte) {
	for len(nodes) > 0 {
		n := len(m.chunks)
		if n == 0 || len(m.chunks[n-1]) == chunkNodes*HashSize {
			m.chunks = append(m.chunks, m.newChunk())
			n++
		}
		last := m.chunks[n-1]
		k := min(len(nodes), cap(last)-len(last))
		m.chunks[n-1] = append(last, nodes[:k]...)
		nodes = nodes[k:]
	}
}

func (m *memNodes) newChunk() []byte {
	if n := len(m.free); n > 0 {
		c := m.free[n-1]
		m.free = m.free[:n-1]
		return c[:0]
	}
	return make([]byte, 0, chunkNodes*HashSize)
}

// unwritten returns the nodes from written up to position end, as views of the chunks:
// they stay as they are until flushed lets them go. Under mu.
func (m *memNodes) unwritten(end uint64) [][]byte {
	var out [][]byte
	for pos := m.written; pos < end; {
		i, off := (pos-m.base)/chunkNodes, (pos-m.base)%chunkNodes
		k := min(chunkNodes-off, end-pos)
		out = append(out, m.chunks[i][off*HashSize:(off+k)*HashSize])
		pos += k
	}
	return out
}

// flushed records that the file holds every node before end, and keeps the chunks that
// held only such nodes for reuse. Under mu.
func (m *memNodes) flushed(end uint64) {
	m.written = end
	for len(m.chunks) > 0 && m.base+chunkNodes <= end {
		m.free = append(m.free, m.chunks[0])
		m.chunks[0] = nil
		m.chunks = m.chunks[1:]
		m.base += chunkNodes
	}
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
