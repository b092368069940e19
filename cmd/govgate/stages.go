package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/certs"
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
	certs   *gateway.CertsStage
}

// addCerts lists a part's certificates on GET /certs and in the expiry metric; the
// endpoint and the metric are added once, with the first part.
func (s *stageSet) addCerts(l gateway.CertificateLister) {
	if s.certs == nil {
		s.certs = &gateway.CertsStage{}
		s.Admin = append(s.Admin, s.certs.AdminHandlers()...)
		s.Metrics = append(s.Metrics, s.certs)
	}
	s.certs.Sources = append(s.certs.Sources, l)
}

func (s *stageSet) degrade(name string, w gateway.WarningReporter) {
	if s.Degraded == nil {
		s.Degraded = map[string]gateway.WarningReporter{}
	}
	s.Degraded[name] = w
}

// keyWarning reports a key watcher whose store cannot be read.
type keyWarning struct{ w *keys.Watcher }

func (k keyWarning) Warning() string {
	if err := k.w.Err(); err != nil {
		return "key store unreachable; the key in use is the last good one: " + err.Error()
	}
	return ""
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
	set := &stageSet{}
	var store keys.Store
	if cfg.Audit.Dir != "" || cfg.TLCP.SignKeyName != "" {
		var err error
		if store, err = openKeyStore(ctx, cfg); err != nil {
			return nil, err
		}
	}
	if err := addTLCP(ctx, set, cfg, store, log); err != nil {
		return nil, err
	}
	if err := addTLS(ctx, set, cfg, log); err != nil {
		return nil, err
	}
	if err := addPolicy(ctx, set, cfg, log); err != nil {
		return nil, err
	}
	if err := addAudit(ctx, set, cfg, store, log); err != nil {
		set.close()
		return nil, err
	}
	if err := rebuildReplayWindow(ctx, set, cfg, log); err != nil {
		set.close()
		return nil, err
	}
	return set, nil
}

// rebuildReplayWindow claims again the nonces the audit log recorded within the signature
// window, before any listener serves, so that a restart does not reopen replays.
func rebuildReplayWindow(ctx context.Context, set *stageSet, cfg *gateway.Config, log *slog.Logger) error {
	auth, ok := set.Authenticate.(*gateway.PeerAuthenticator)
	if !ok || cfg.Audit.Dir == "" {
		return nil
	}
	r, err := auth.RebuildReplayWindow(ctx, cfg.Audit.Dir)
	if err != nil {
		return err
	}
	if r.Skipped > 0 {
		log.Warn("replay window: some audit records could not be read; their nonces are not remembered (run govgate audit verify)", "skipped", r.Skipped)
	}
	log.Info("replay window rebuilt from the audit log", "records", r.Records, "nonces", r.Claimed)
	return nil
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
func addAudit(ctx context.Context, set *stageSet, cfg *gateway.Config, store keys.Store, log *slog.Logger) error {
	a := cfg.Audit
	if a.Dir == "" {
		return nil
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
		// C2SP tlog-checkpoint: "The log's key name in its signature line SHOULD match the
		// origin line." A log that signed under the name govgate used before
		// (<gateway id>-audit) goes on under the origin: Open records the key under its
		// new name from the current size on, and keys.json keeps the old entry for the
		// checkpoints signed before.
		return audit.NewNoteSigner(a.Origin, key)
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
	stage := &gateway.AuditStage{GatewayID: cfg.GatewayID}
	l, err := audit.Open(audit.Options{
		Dir: a.Dir, Origin: a.Origin, Signer: signer, SegmentBytes: a.SegmentBytes,
		CheckpointInterval: a.CheckpointInterval, Retention: a.Retention,
		Logger: log.With("component", "audit"), OnCommit: stage.ObserveCommit,
	})
	if err != nil {
		return err
	}
	stage.Log = l
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
	set.degrade("audit-key", keyWarning{watch})
	set.Audit = stage
	set.Admin = append(set.Admin, stage.AdminHandlers()...)
	set.Metrics = append(set.Metrics, stage)
	return nil
}

// openKeyStore opens the configured key store backend.
func openKeyStore(ctx context.Context, cfg *gateway.Config) (keys.Store, error) {
	if cfg.Keys.Backend != "vault" {
		return keys.NewFileStore(cfg.Keys.Dir)
	}
	v := cfg.Keys.Vault
	vc := keys.VaultConfig{Address: v.Address, RoleID: v.RoleID, CAFile: v.CAFile, Mount: v.Mount, Prefix: v.Prefix}
	if v.TokenEnv != "" {
		if vc.Token = os.Getenv(v.TokenEnv); vc.Token == "" {
			return nil, fmt.Errorf("keys.vault.token_env: $%s is empty", v.TokenEnv)
		}
	}
	if v.SecretIDEnv != "" {
		vc.SecretID = os.Getenv(v.SecretIDEnv)
	}
	return keys.NewVaultStore(ctx, vc)
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

// addTLS sets up the standard mutual-TLS transport when a listener speaks tls.
func addTLS(ctx context.Context, set *stageSet, cfg *gateway.Config, log *slog.Logger) error {
	if !cfg.UsesTransport(gateway.TransportTLS) {
		return nil
	}
	files := gateway.TLSFiles{Cert: cfg.TLS.Cert, Key: cfg.TLS.Key, ClientCA: []string{cfg.TLS.ClientCA}}
	if cfg.TLS.ClientCRL != "" {
		files.ClientCRL = []string{cfg.TLS.ClientCRL}
	}
	var source gateway.CertificateSource
	if a := cfg.TLS.ACME; a.DirectoryURL != "" {
		acme, err := newACME(cfg)
		if err != nil {
			return err
		}
		if err := acme.ManageAsync(ctx); err != nil {
			return err
		}
		set.closers = append(set.closers, func() error { acme.Stop(); return nil })
		source = acme
	}
	tr, err := gateway.NewTLSTransport(files, source, cfg.TLS.ACME.Domains...)
	if err != nil {
		return err
	}
	set.addCerts(tr)
	tr.Watch(ctx, cfg.Keys.PollInterval, log.With("component", "tls"))
	if set.Authenticate == nil {
		set.Authenticate = gateway.NewPeerAuthenticatorWith(cfg.TLCP.SignaturePolicy())
	}
	if pa, ok := set.Authenticate.(*gateway.PeerAuthenticator); ok {
		// Open tls connections are held to the CA set and CRL in force, not to the ones
		// of their handshake.
		pa.TLSTrust = tr
	}
	if set.Transports == nil {
		set.Transports = map[gateway.Transport]gateway.ListenerProvider{}
	}
	set.Transports[gateway.TransportTLS] = tr
	return nil
}

// newACME prepares certmagic for the tls listeners from tls.acme.
func newACME(cfg *gateway.Config) (*certs.ACME, error) {
	a := cfg.TLS.ACME
	opts := certs.ACMEOptions{
		DirectoryURL: a.DirectoryURL, Email: a.Email, StorageDir: a.StorageDir, Profile: a.Profile,
		Domains: a.Domains, HTTP01: a.HTTP01Port != 0, HTTPPort: a.HTTP01Port,
	}
	for _, l := range cfg.Listeners {
		if l.Transport == gateway.TransportTLS {
			if _, port, err := net.SplitHostPort(l.Address); err == nil {
				opts.TLSALPNPort, _ = strconv.Atoi(port)
			}
		}
	}
	if a.CAFile != "" {
		b, err := os.ReadFile(a.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.acme.ca_file: %w", err)
		}
		opts.TrustedRoots = x509.NewCertPool()
		if !opts.TrustedRoots.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("tls.acme.ca_file %s: no certificate", a.CAFile)
		}
	}
	return certs.NewACME(opts)
}

// addTLCP loads the gateway's TLCP identity, its clients' CAs and CRL when a listener
// speaks TLCP, keeps them current (files, CRL and key-store versions are polled), and plugs
// in the transport, the authenticate stage that reads the peer's certificates, and GET
// /certs with the expiry metrics.
func addTLCP(ctx context.Context, set *stageSet, cfg *gateway.Config, store keys.Store, log *slog.Logger) error {
	if !cfg.UsesTransport(gateway.TransportTLCP) {
		return nil
	}
	t := cfg.TLCP
	files := gateway.TLCPFiles{
		SignCert: t.SignCert, SignKey: t.SignKey, EncCert: t.EncCert, EncKey: t.EncKey,
		SignKeyName: t.SignKeyName, EncKeyName: t.EncKeyName, ClientCA: []string{t.ClientCA},
	}
	if t.ClientCRL != "" {
		files.ClientCRL = []string{t.ClientCRL}
	}
	if t.KeyPasswordEnv != "" {
		files.Password = []byte(os.Getenv(t.KeyPasswordEnv))
	}
	src, err := gateway.NewTLCPSource(ctx, files, store, log.With("component", "certs"))
	if err != nil {
		return err
	}
	suites, err := tlcp.ParseSuites(t.CipherSuites)
	if err != nil {
		return fmt.Errorf("tlcp.cipher_suites: %w", err)
	}
	src.Watch(ctx, cfg.Keys.PollInterval)
	set.Authenticate = gateway.NewPeerAuthenticatorWith(t.SignaturePolicy())
	set.Transports = map[gateway.Transport]gateway.ListenerProvider{
		gateway.TransportTLCP: &gateway.TLCPTransport{Identity: src.Identity, Trust: src.Trust, HandshakeTimeout: t.HandshakeTimeout,
			DigestVerifyOnly: t.ClientVerifyDigestOnly, Suites: suites},
	}
	set.addCerts(src)
	set.degrade("tlcp-keys", src)
	return nil
}
