package keys

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// ErrNotFound is returned for a key or version the store does not hold.
var ErrNotFound = errors.New("key not found")

// Version is one version of a named key.
type Version struct {
	Name    string
	Number  int // 1, 2, …; higher is newer
	Data    []byte
	Created time.Time
}

// Summary is a key and its versions, for listings. Latest is the version a gateway uses
// (Store.Latest); Created is that version's.
type Summary struct {
	Name     string        `json:"name"`
	Latest   int           `json:"latest"`
	Created  time.Time     `json:"created"`
	Versions []VersionInfo `json:"versions"`
}

// VersionInfo is one version of a key without its data. Deleted marks a Vault version
// soft-deleted or destroyed: listed, as an administrator asked, but never used.
type VersionInfo struct {
	Number  int       `json:"number"`
	Created time.Time `json:"created"`
	Deleted bool      `json:"deleted,omitempty"`
}

// Store holds named, versioned keys. Versions are never changed or removed by the
// gateway: an old version stays readable for verifying what it signed.
type Store interface {
	Latest(ctx context.Context, name string) (*Version, error)
	Get(ctx context.Context, name string, number int) (*Version, error)
	Put(ctx context.Context, name string, data []byte) (*Version, error)
	List(ctx context.Context) ([]Summary, error)
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)

// CheckName refuses names that are not lower-case words with dots, dashes and
// underscores: names become file and Vault path segments.
func CheckName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("key name %q: want lower-case letters, digits, '.', '-' or '_'", name)
	}
	return nil
}
