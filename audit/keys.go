package audit

import (
	"errors"
	"fmt"
	"os"
)

type signerSwap struct {
	signer *NoteSigner
	done   chan error
}

// adopt records signer in the key set as signing from the current size on.
func (l *Log) adopt(signer *NoteSigner) error {
	ks, err := LoadKeySet(l.opts.KeysPath)
	if errors.Is(err, os.ErrNotExist) {
		ks, err = &KeySet{}, nil
	}
	if err != nil {
		return err
	}
	changed, err := ks.Adopt(signer, l.size)
	if err != nil || !changed {
		return err
	}
	if err := ks.Save(l.opts.KeysPath); err != nil {
		return fmt.Errorf("save audit keys: %w", err)
	}
	l.log.Info("audit key signs checkpoints from this size on", "key", signer.Name, "key_id", signer.KeyID(), "from_size", l.size)
	return nil
}

// SetSigner rotates the audit key while the log runs: the old key signs a last checkpoint
// of the current size, the key set records the new key from that size on, and the new key
// signs every checkpoint after. On error the old key stays.
func (l *Log) SetSigner(s *NoteSigner) error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	done := make(chan error, 1)
	l.signers <- signerSwap{signer: s, done: done}
	return <-done
}

func (l *Log) swapSigner(s *NoteSigner) error {
	if s.KeyID() == l.opts.Signer.KeyID() && s.Name == l.opts.Signer.Name {
		return nil
	}
	l.checkpointIfGrown()
	if err := l.adopt(s); err != nil {
		l.log.Error("audit key not rotated; the old key stays", "error", err)
		return err
	}
	l.opts.Signer = s
	return nil
}
