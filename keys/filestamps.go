package keys

import (
	"os"
	"time"
)

// FileStamps remembers the modification times of files, so that polling notices the ones
// an administrator replaced.
type FileStamps map[string]time.Time

// Changed reports whether any of paths has another modification time than last seen, and
// remembers the new ones. A file that cannot be read counts as unchanged: its reload would
// fail anyway, and the running configuration stays.
func (s FileStamps) Changed(paths ...string) bool {
	moved := false
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			continue
		}
		if m := info.ModTime(); !m.Equal(s[p]) {
			s[p] = m
			moved = true
		}
	}
	return moved
}
