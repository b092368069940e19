package bundle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// persistName is the file name a poller keeps its current bundle under in PersistDir.
const persistName = "bundle.tar.gz"

// persist writes f's bundle and signature into PersistDir (when set), so that a restart
// finds the last verified bundle even when the bundle server is down, and compares what
// the server then offers with it (checkNotOlder).
func (p *Poller) persist(raw, sig []byte) error {
	if p.opts.PersistDir == "" {
		return nil
	}
	if err := os.MkdirAll(p.opts.PersistDir, 0o700); err != nil {
		return fmt.Errorf("persist policy bundle: %w", err)
	}
	return Publish(p.opts.PersistDir, persistName, raw, sig)
}

// LoadPersisted makes the bundle kept in PersistDir current, verified again as if just
// fetched (a signer revoked or expired since is refused). It returns false with no error
// when there is none to load. The next poll fetches from the server unconditionally.
func (p *Poller) LoadPersisted() (bool, error) {
	if p.opts.PersistDir == "" {
		return false, nil
	}
	path := filepath.Join(p.opts.PersistDir, persistName)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("persisted policy bundle: %w", err)
	}
	sig, err := os.ReadFile(path + SignatureSuffix)
	if err != nil {
		return false, fmt.Errorf("persisted policy bundle: %w", err)
	}
	f, err := p.verify(raw, sig, "")
	if err != nil {
		return false, fmt.Errorf("persisted policy bundle %s refused: %w", path, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current = f
	p.remember(f)
	return true, nil
}
