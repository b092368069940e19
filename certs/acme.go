package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// ACMEOptions configure certificates obtained by ACME for tls listeners.
type ACMEOptions struct {
	DirectoryURL string // the ACME directory, e.g. an in-house CA or Let's Encrypt
	Email        string
	StorageDir   string // certificates, keys and the account, kept by certmagic
	Profile      string // the ACME profile to ask for, when the CA offers profiles
	Domains      []string
	// TrustedRoots verify the ACME server itself (an in-house CA's directory).
	TrustedRoots *x509.CertPool
	// TLSALPNPort is the port of the listener that answers tls-alpn-01 challenges: the
	// gateway's own tls listener, which hands acme-tls/1 handshakes to ChallengeConfig.
	TLSALPNPort int
	// HTTP01 also allows http-01 challenges, answered on HTTPPort.
	HTTP01   bool
	HTTPPort int
	// RenewCheckInterval is how often certificates are checked for renewal (certmagic's
	// default, 10 minutes, when zero); a certificate is renewed in the last third of its
	// life and the renewed one served from then on.
	RenewCheckInterval time.Duration
	// RenewalWindowRatio is the part of a certificate's life, at its end, in which it is
	// renewed (certmagic's 1/3 when zero). DisableARI ignores the CA's suggested renewal
	// window (RFC 9773), for a predictable schedule.
	RenewalWindowRatio float64
	DisableARI         bool
	Logger             *zap.Logger
}

// ACME obtains and renews the server certificate of tls listeners with certmagic.
type ACME struct {
	cfg     *certmagic.Config
	cache   *certmagic.Cache
	domains []string
}

// NewACME prepares certmagic; nothing is obtained until Manage.
func NewACME(opts ACMEOptions) (*ACME, error) {
	if opts.DirectoryURL == "" || opts.StorageDir == "" || len(opts.Domains) == 0 {
		return nil, errors.New("acme: directory URL, storage directory and domains are required")
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	var cfg *certmagic.Config
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return cfg, nil },
		RenewCheckInterval: opts.RenewCheckInterval,
		Logger:             opts.Logger,
	})
	cfg = certmagic.New(cache, certmagic.Config{
		Storage:            &certmagic.FileStorage{Path: opts.StorageDir},
		RenewalWindowRatio: opts.RenewalWindowRatio,
		DisableARI:         opts.DisableARI,
		Logger:             opts.Logger,
	})
	cfg.Issuers = []certmagic.Issuer{certmagic.NewACMEIssuer(cfg, certmagic.ACMEIssuer{
		CA:                   opts.DirectoryURL,
		Email:                opts.Email,
		Agreed:               true,
		Profile:              opts.Profile,
		TrustedRoots:         opts.TrustedRoots,
		DisableHTTPChallenge: !opts.HTTP01,
		AltHTTPPort:          opts.HTTPPort,
		AltTLSALPNPort:       opts.TLSALPNPort,
		ListenHost:           "127.0.0.1",
		Logger:               opts.Logger,
	})}
	return &ACME{cfg: cfg, cache: cache, domains: opts.Domains}, nil
}

// Manage obtains the certificates (or loads them from storage) and keeps them renewed.
// It returns once every domain has a certificate.
func (a *ACME) Manage(ctx context.Context) error {
	if err := a.cfg.ManageSync(ctx, a.domains); err != nil {
		return fmt.Errorf("acme: %w", err)
	}
	return nil
}

// ManageAsync obtains the certificates in the background, with retries, and keeps them
// renewed: for a gateway whose listener — which answers the challenge — starts after this.
func (a *ACME) ManageAsync(ctx context.Context) error {
	if err := a.cfg.ManageAsync(ctx, a.domains); err != nil {
		return fmt.Errorf("acme: %w", err)
	}
	return nil
}

// Stop ends the renewal maintenance.
func (a *ACME) Stop() { a.cache.Stop() }

// GetCertificate serves the managed certificate in a handshake.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return a.cfg.GetCertificate(hello)
}

// ChallengeConfig is the TLS configuration for acme-tls/1 handshakes: the tls-alpn-01
// challenge, answered on the listener itself.
func (a *ACME) ChallengeConfig() *tls.Config { return a.cfg.TLSConfig() }
