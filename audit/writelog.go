package audit

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/transparency-dev/merkle/compact"
)

// WriteLog writes records [start.End(), start.End()+len(recs)) — read back from
// somewhere else than a log directory, such as the audit index — into out (a new or empty
// directory) in the layout of a log: one segment with its start state, the checkpoint
// notes given and the key set. Verify then checks it like any export: every record against
// the checkpoints of the notes that fall within it. tree.hashes is not written (Verify
// and Prove work without it).
func WriteLog(out string, start *compact.Range, recs [][]byte, notes [][]byte, keys *KeySet) error {
	if start == nil || start.Begin() != 0 {
		return fmt.Errorf("write log %s: the start state must cover the records from 0", out)
	}
	if err := makeEmptyDir(out); err != nil {
		return fmt.Errorf("write log %s: %w", out, err)
	}
	segDir := filepath.Join(out, "segments")
	if err := os.Mkdir(segDir, 0o700); err != nil {
		return fmt.Errorf("write log %s: %w", out, err)
	}
	first := start.End()
	seg := filepath.Join(segDir, segmentName(first))
	if err := writeStartState(seg, start); err != nil {
		return fmt.Errorf("write log %s: %w", out, err)
	}
	buf := segmentHeader(first)
	for _, r := range recs {
		buf = appendFrame(buf, r)
	}
	if err := writeNew(seg, buf); err != nil {
		return fmt.Errorf("write log %s: %w", out, err)
	}
	var cb []byte
	for _, n := range notes {
		cb = appendFrame(cb, n)
	}
	if err := writeNew(filepath.Join(out, "checkpoints"), cb); err != nil {
		return fmt.Errorf("write log %s: %w", out, err)
	}
	if err := keys.Save(filepath.Join(out, "keys.json")); err != nil {
		return fmt.Errorf("write log %s: %w", out, err)
	}
	return syncDir(segDir)
}
