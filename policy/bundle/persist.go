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

// Persist writes the current bundle and its signature into PersistDir (when set) if its
// files are the engine's live revision liveID, so that a restart finds the bundle that was
// live even when the bundle server is down, and compares what the server then offers with
// it (checkNotOlder). A verified bundle the engine refused (its tests fail) is never kept:
// a restart on it would not start at all.
func (p *Poller) Persist(liveID string) error {
	p.mu.Lock()
	cur, raw, sig := p.current, p.currentRaw, p.currentSig
	p.mu.Unlock()
	if p.opts.PersistDir == "" || cur == nil || cur.id != liveID || raw == nil {
		return nil
	}
	if err := os.MkdirAll(p.opts.PersistDir, 0o700); err != nil {
		return fmt.Errorf("persist policy bundle: %w", err)
	}
	if err := Publish(p.opts.PersistDir, persistName, raw, sig); err != nil {
		return fmt.Errorf("persist policy bundle: %w", err)
	}
	return nil
}

// persistLive keeps the current bundle after the engine's reload made it live.
func (p *Poller) persistLive() {
	p.mu.Lock()
	id := ""
	if p.current != nil {
		id = p.current.id
	}
	p.mu.Unlock()
	if err := p.Persist(id); err != nil {
		// Not fatal: the bundle is live; only a restart with the server down suffers.
		p.log.Warn("policy bundle not persisted", "dir", p.opts.PersistDir, "error", err)
	}
}

// LoadPersisted makes the bundle kept in PersistDir (the last one live) current, verified
// again as if just fetched (a signer revoked or expired since is refused). It returns false with no error
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
	p.current, p.currentRaw, p.currentSig = f, raw, sig
	p.remember(f)
	return true, nil
}
