package audit

import (
	"github.com/emmansun/gmsm/sm3"
	"github.com/transparency-dev/merkle"
)

// HashSize is the size of every hash in the log: SM3's 32 bytes.
const HashSize = sm3.Size

// Hasher is RFC 6962's tree hashing with SM3 in place of SHA-256: a leaf is
// SM3(0x00 || record), an interior node SM3(0x01 || left || right), the empty tree SM3("").
type Hasher struct{}

var _ merkle.LogHasher = Hasher{}

// EmptyRoot is the root of the empty tree.
func (Hasher) EmptyRoot() []byte {
	sum := sm3.Sum(nil)
	return sum[:]
}

// HashLeaf hashes one record.
func (Hasher) HashLeaf(leaf []byte) []byte {
	h := sm3.New()
	h.Write([]byte{0})
	h.Write(leaf)
	return h.Sum(nil)
}

// HashChildren hashes an interior node.
func (Hasher) HashChildren(l, r []byte) []byte {
	h := sm3.New()
	h.Write([]byte{1})
	h.Write(l)
	h.Write(r)
	return h.Sum(nil)
}

// Size is HashSize.
func (Hasher) Size() int { return HashSize }
