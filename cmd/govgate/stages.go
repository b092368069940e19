package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/crypto/tlcp"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/policy"
)

// stageSet is the stages and what must be closed after the gateway stops.
type stageSet struct {
	gateway.Stages
	closers []func() error
}

func (s *stageSet) close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	return errors.Join(errs...)
}

// buildStages assembles every stage the config asks for: the TLCP transport and identity,
// the policy engine's decide and release stages, and the audit log.
func buildStages(ctx context.Context, cfg *gateway.Config, log *slog.Logger) (*stageSet, error) {
	st, err := tlcpStages(cfg)
	if err != nil {
		return nil, err
	}
	set := &stageSet{Stages: st}
	if err := addPolicy(ctx, set, cfg, log); err != nil {
		return nil, err
	}
	if err := addAudit(set, cfg, log); err != nil {
		return nil, err
	}
	return set, nil
}

func addPolicy(ctx context.Context, set *stageSet, cfg *gateway.Config, log *slog.Logger) error {
	engine, err := policy.New(ctx, policy.Options{
		Dir:       cfg.Policy.Dir,
		SkipTests: cfg.Policy.SkipTests,
		CacheSize: cfg.Policy.CacheSize,
		Logger:    log.With("component", "policy"),
	})
	if err != nil {
		return err
	}
	if cfg.Policy.Dir != "" && *cfg.Policy.Watch {
		if err := engine.Watch(ctx); err != nil {
			return err
		}
	}
	ps := gateway.NewPolicyStage(engine)
	set.Decide, set.Release, set.Catalog = ps, ps, ps
	set.Admin = append(set.Admin, ps.AdminHandlers()...)
	set.Metrics = append(set.Metrics, ps)
	return nil
}

// addAudit opens the audit log with its signing key (generated on first start) and makes
// sure keys.json names the key from the current size on.
func addAudit(set *stageSet, cfg *gateway.Config, log *slog.Logger) error {
	a := cfg.Audit
	if a.Dir == "" {
		return nil
	}
	if err := os.MkdirAll(a.Dir, 0o700); err != nil {
		return fmt.Errorf("audit dir: %w", err)
	}
	keyPath := a.Key
	if keyPath == "" {
		keyPath = filepath.Join(a.Dir, "audit-key.pem")
	}
	var password []byte
	if a.KeyPasswordEnv != "" {
		password = []byte(os.Getenv(a.KeyPasswordEnv))
	}
	key, err := loadOrCreateKey(keyPath, password, log)
	if err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	signer, err := audit.NewNoteSigner(cfg.GatewayID+"-audit", key)
	if err != nil {
		return err
	}
	l, err := audit.Open(audit.Options{
		Dir: a.Dir, Origin: a.Origin, Signer: signer, SegmentBytes: a.SegmentBytes,
		CheckpointInterval: a.CheckpointInterval, Retention: a.Retention,
		Logger: log.With("component", "audit"),
	})
	if err != nil {
		return err
	}
	if err := adoptKey(filepath.Join(a.Dir, "keys.json"), signer, l.Size(), log); err != nil {
		l.Close()
		return err
	}
	stage := &gateway.AuditStage{Log: l, GatewayID: cfg.GatewayID}
	set.Audit = stage
	set.Admin = append(set.Admin, stage.AdminHandlers()...)
	set.Metrics = append(set.Metrics, stage)
	set.closers = append(set.closers, l.Close)
	return nil
}

// adoptKey records signer in the key set, retiring the key that signed before it.
func adoptKey(path string, signer *audit.NoteSigner, size uint64, log *slog.Logger) error {
	ks, err := audit.LoadKeySet(path)
	if errors.Is(err, os.ErrNotExist) {
		ks, err = &audit.KeySet{}, nil
	}
	if err != nil {
		return err
	}
	changed, err := ks.Adopt(signer, size)
	if err != nil || !changed {
		return err
	}
	log.Info("audit key signs checkpoints from this size on", "key", signer.Name, "key_id", signer.KeyID(), "from_size", size, "keys", path)
	return ks.Save(path)
}

// loadOrCreateKey reads an SM2 key, or generates one (0600) where none exists yet.
func loadOrCreateKey(path string, password []byte, log *slog.Logger) (*crypto.PrivateKey, error) {
	_, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err := crypto.GenerateKey()
		if err != nil {
			return nil, err
		}
		pemKey, err := crypto.MarshalPrivateKeyPEM(key, password)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, pemKey, 0o600); err != nil {
			return nil, err
		}
		log.Info("generated an audit signing key", "path", path)
		return key, nil
	}
	if err != nil {
		return nil, err
	}
	return client.LoadKey(path, password)
}

// tlcpStages loads the gateway's TLCP identity and client CAs when a listener speaks TLCP,
// and plugs in the transport and the authenticate stage that reads its certificates.
func tlcpStages(cfg *gateway.Config) (gateway.Stages, error) {
	if !cfg.UsesTransport(gateway.TransportTLCP) {
		return gateway.Stages{}, nil
	}
	t := cfg.TLCP
	var password []byte
	if t.KeyPasswordEnv != "" {
		password = []byte(os.Getenv(t.KeyPasswordEnv))
	}
	id, err := client.LoadIdentity(t.SignCert, t.SignKey, t.EncCert, t.EncKey, password)
	if err != nil {
		return gateway.Stages{}, fmt.Errorf("tlcp identity: %w", err)
	}
	trust, err := client.LoadTrust(t.ClientCA)
	if err != nil {
		return gateway.Stages{}, fmt.Errorf("tlcp client CA: %w", err)
	}
	ids := &tlcp.IdentitySource{}
	if err := ids.Store(id); err != nil {
		return gateway.Stages{}, err
	}
	return gateway.Stages{
		Authenticate: gateway.NewPeerAuthenticator(t.SignatureSkew, t.MaxNonces),
		Transports: map[gateway.Transport]gateway.ListenerProvider{
			gateway.TransportTLCP: &gateway.TLCPTransport{Identity: ids, Trust: trust, HandshakeTimeout: t.HandshakeTimeout},
		},
	}, nil
}
