package ship

import (
	"bytes"
	"testing"
)

// Records copied into the arena stay what was read when the reader's buffer is written
// again, and appending to one (a sloppy caller) never changes the next; a record larger
// than a block's eighth gets its own copy.
func TestRecordArenaCopiesAreTheirOwn(t *testing.T) {
	var a recordArena
	buf := make([]byte, arenaBlock)
	var got, want [][]byte
	for i := range 2000 {
		n := []int{0, 1, 600, 1500, arenaBlock/8 + 1, 40 << 10}[i%6]
		for j := range n {
			buf[j] = byte(i + j)
		}
		got = append(got, a.clone(buf[:n]))
		want = append(want, bytes.Clone(buf[:n]))
		for j := range n {
			buf[j] = 0xff // the reader's window, reused
		}
		if i > 0 {
			_ = append(got[i-1], 'x', 'y', 'z')
		}
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d (%d bytes) changed in the arena", i, len(want[i]))
		}
	}
}
