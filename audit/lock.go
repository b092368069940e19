package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrLocked refuses to open a log another writer holds: two writers would each append at
// their own idea of the end, overwrite each other's records and give receipts for records
// the log no longer holds (a second gateway started on the same directory, or a restart
// that overlaps the old process).
var ErrLocked = errors.New("the audit log is held by another writer (is another gateway running on this directory?)")

// lockName is the file whose lock marks the log's writer; its content is never read.
const lockName = "lock"

// lockDir takes the writer's lock of dir, which the system releases when the process
// ends however it ends, so a crash leaves no stale lock.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
