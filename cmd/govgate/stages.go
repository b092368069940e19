package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/crypto/tlcp"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/keys"
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
	if err := addAudit(ctx, set, cfg, log); err != nil {
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

// addAudit opens the audit log with its signing key from the key store (generated on
// first start) and rotates the key live when the store gets a new version.
func addAudit(ctx context.Context, set *stageSet, cfg *gateway.Config, log *slog.Logger) error {
	a := cfg.Audit
	if a.Dir == "" {
		return nil
	}
	store, err := keys.NewFileStore(cfg.Keys.Dir)
	if err != nil {
		return err
	}
	var password []byte
	if cfg.Keys.PasswordEnv != "" {
		password = []byte(os.Getenv(cfg.Keys.PasswordEnv))
	}
	if err := ensureKey(ctx, store, a.KeyName, password, log); err != nil {
		return err
	}
	signerOf := func(v *keys.Version) (*audit.NoteSigner, error) {
		key, err := crypto.ParsePrivateKeyPEM(v.Data, password)
		if err != nil {
			return nil, fmt.Errorf("key %s version %d: %w", v.Name, v.Number, err)
		}
		return audit.NewNoteSigner(cfg.GatewayID+"-audit", key)
	}
	v, err := store.Latest(ctx, a.KeyName)
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
	l, err := audit.Open(audit.Options{
		Dir: a.Dir, Origin: a.Origin, Signer: signer, SegmentBytes: a.SegmentBytes,
		CheckpointInterval: a.CheckpointInterval, Retention: a.Retention,
		Logger: log.With("component", "audit"),
	})
	if err != nil {
		return err
	}
	set.closers = append(set.closers, l.Close)
	watch := &keys.Watcher{
		Store: store, Name: a.KeyName, Interval: cfg.Keys.PollInterval, Logger: log.With("component", "keys"),
		Apply: func(v *keys.Version) error {
			s, err := signerOf(v)
			if err != nil {
				return err
			}
			return l.SetSigner(s)
		},
	}
	if err := watch.Start(ctx); err != nil {
		return err
	}
	stage := &gateway.AuditStage{Log: l, GatewayID: cfg.GatewayID}
	set.Audit = stage
	set.Admin = append(set.Admin, stage.AdminHandlers()...)
	set.Metrics = append(set.Metrics, stage)
	return nil
}

// ensureKey generates the first version of an SM2 key the store does not hold yet.
func ensureKey(ctx context.Context, store keys.Store, name string, password []byte, log *slog.Logger) error {
	_, err := store.Latest(ctx, name)
	if !errors.Is(err, keys.ErrNotFound) {
		return err
	}
	key, err := crypto.GenerateKey()
	if err != nil {
		return err
	}
	pemKey, err := crypto.MarshalPrivateKeyPEM(key, password)
	if err != nil {
		return err
	}
	v, err := store.Put(ctx, name, pemKey)
	if err != nil {
		return err
	}
	log.Info("generated a key", "key", name, "version", v.Number)
	return nil
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
