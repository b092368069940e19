package ship

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/audit/index"
)

// recheckChunk is how many shipped leaves a recheck holds at once.
const recheckChunk = 1 << 20

// recheck reads again the records shipped that are still on disk and compares each with
// the leaf hash in the index: a record changed on disk after it was shipped (so that the
// gateway's copy no longer matches the index, or a later reader would be misled) is refused.
func (s *Shipper) recheck(ctx context.Context, p *index.Progress) error {
	from := s.firstKept()
	for a := from; a < p.Next; a += recheckChunk {
		b := min(p.Next, a+recheckChunk)
		leaves := make([][]byte, b-a)
		err := index.LeafHashes(ctx, s.opts.DB, s.origin, a, b, func(i uint64, leaf []byte) error {
			leaves[i-a] = bytes.Clone(leaf)
			return nil
		})
		if err != nil {
			return err
		}
		var changed *uint64
		var what string
		seen := a
		err = audit.ScanFrom(s.opts.Dir, a, func(i uint64, rec []byte) error {
			if i >= b {
				return errEnough
			}
			if i != seen && s.firstKept() <= seen {
				// The reader stopped early in a segment (a frame that no longer matches its
				// checksum) and went on with the next: the records between are unreadable.
				// (Segments the gateway's retention removed meanwhile are no gap.)
				gap := seen
				changed, what = &gap, fmt.Sprintf("records %d–%d were shipped but can no longer be read on disk", seen, i-1)
				return errEnough
			}
			seen = i + 1
			if leaves[i-a] == nil {
				return nil // not in the index (retention there), nothing to compare
			}
			if !bytes.Equal(audit.Hasher{}.HashLeaf(rec), leaves[i-a]) {
				changed, what = &i, fmt.Sprintf("record %d on disk no longer hashes to the leaf shipped: it was changed after it was shipped", i)
				return errEnough
			}
			return nil
		})
		if err != nil && !errors.Is(err, errEnough) {
			return fmt.Errorf("recheck %s: %w", s.opts.Dir, err)
		}
		if changed == nil && seen < b && s.firstKept() <= seen {
			changed, what = &seen, fmt.Sprintf("records %d–%d were shipped but can no longer be read on disk", seen, b-1)
		}
		if changed != nil {
			return s.refuse(ctx, s.origin, "record_changed_on_disk", changed, what)
		}
	}
	return nil
}
