package ship

import "bytes"

// arenaBlock is the size of the blocks recordArena copies records into.
const arenaBlock = 256 << 10

// recordArena copies the records pass one reads (the reader's window is reused) into
// shared blocks: an allocation a block, not a record. A block lives as long as a row of
// it does — the span's rows are held and dropped together.
type recordArena struct{ block []byte }

// clone is a copy of rec that nothing else writes to: capped at its length, so an append
// to it cannot reach the next record's bytes.
func (a *recordArena) clone(rec []byte) []byte {
	if len(rec) > arenaBlock/8 {
		return bytes.Clone(rec)
	}
	if cap(a.block)-len(a.block) < len(rec) {
		a.block = make([]byte, 0, arenaBlock)
	}
	n := len(a.block)
	a.block = append(a.block, rec...)
	return a.block[n:len(a.block):len(a.block)]
}
