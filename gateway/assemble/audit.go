package assemble

import (
	"fmt"
	"os"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/gateway/record"
	"github.com/govgate/govgate/keys"
)

// audit opens the audit log with its signing key from the key store (generated on first
// start) and rotates the key live when the store gets a new version.
func (b *builder) audit() error {
	a := b.cfg.Audit
	if a.Dir == "" || b.without(Audit) {
		return nil
	}
	store := b.a.Store
	var password []byte
	if b.cfg.Keys.PasswordEnv != "" {
		password = []byte(os.Getenv(b.cfg.Keys.PasswordEnv))
	}
	if err := ensureKey(b.ctx, store, a.KeyName, password, b.log); err != nil {
		return err
	}
	signerOf := func(v *keys.Version) (*audit.NoteSigner, error) {
		key, err := crypto.ParsePrivateKeyPEM(v.Data, password)
		if err != nil {
			return nil, fmt.Errorf("key %s version %d: %w", v.Name, v.Number, err)
		}
		// C2SP tlog-checkpoint: "The log's key name in its signature line SHOULD match the
		// origin line." A log that signed under the name govgate used before
		// (<gateway id>-audit) goes on under the origin: Open records the key under its
		// new name from the current size on, and keys.json keeps the old entry for the
		// checkpoints signed before.
		return audit.NewNoteSigner(a.Origin, key)
	}
	v, err := store.Latest(b.ctx, a.KeyName)
	if err != nil {
		return err
	}
	signer, err := signerOf(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(a.Dir, 0o700); err != nil {
		return fmt.Errorf("audit dir: %w", err)
	}
	stage := &record.AuditStage{GatewayID: b.cfg.GatewayID}
	onCommit := stage.ObserveCommit
	if also := b.opts.OnCommit; also != nil {
		onCommit = func(n int, took time.Duration) { stage.ObserveCommit(n, took); also(n, took) }
	}
	l, err := audit.Open(audit.Options{
		Dir: a.Dir, Origin: a.Origin, Signer: signer, SegmentBytes: a.SegmentBytes,
		CheckpointInterval: a.CheckpointInterval, Retention: a.Retention, CommitDelay: a.CommitDelay,
		Logger: b.log.With("component", "audit"), OnCommit: onCommit,
	})
	if err != nil {
		return err
	}
	stage.Log = l
	b.onClose("audit log", l.Close)
	watch := &keys.Watcher{
		What: "audit signing key", Store: store, Names: []string{a.KeyName}, Interval: b.cfg.Keys.PollInterval,
		Logger: b.log.With("component", "keys"),
		Apply: func(vs []*keys.Version) error {
			s, err := signerOf(vs[0])
			if err != nil {
				return err
			}
			return l.SetSigner(s)
		},
	}
	if err := watch.Load(b.ctx); err != nil {
		return err
	}
	b.watch(watch.Run)
	b.usesKeys(watch)
	b.degrade("audit-key", keyWarning{watch})
	b.stages.Audit = stage
	b.stages.Proofs = stage
	b.admin(stage.AdminHandlers(), stage.Collector())
	return nil
}

// replayWindow claims again the nonces the audit log recorded within the signature
// window, before any listener serves, so that a restart does not reopen replays.
func (b *builder) replayWindow() error {
	if b.auth == nil || b.stages.Audit == nil {
		return nil
	}
	r, err := b.auth.RebuildReplayWindow(b.ctx, b.cfg.Audit.Dir)
	if err != nil {
		return err
	}
	if r.Skipped > 0 {
		b.log.Warn("replay window: some audit records could not be read; their nonces are not remembered (run govgate audit verify)", "skipped", r.Skipped)
	}
	b.log.Info("replay window rebuilt from the audit log", "records", r.Records, "nonces", r.Claimed)
	return nil
}
