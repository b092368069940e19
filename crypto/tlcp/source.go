package tlcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/keys"
)

// SourceFiles names where the gateway's TLCP identity and its clients' trust come from.
// With SignKeyName and EncKeyName the identity comes from the key store (each version a
// PEM bundle: certificate, chain, private key); else from the four files.
type SourceFiles struct {
	SignCert, SignKey, EncCert, EncKey string
	SignKeyName, EncKeyName            string
	ClientCA                           []string
	ClientCRL                          []string
	Password                           []byte
}

// Source keeps the gateway's TLCP identity and trust store current: when a file, the
// CRL or a key-store version changes it loads the new one, checks it, and swaps it in for
// the next handshakes. Open connections go on with the identity they negotiated, but a new
// trust store reaches them too: the authenticate stage verifies each connection's peer
// again at its next request (Conn.TrustedPeer) and refuses one revoked or no longer
// trusted. Anything that does not load is refused with a log line and the running one
// stays.
type Source struct {
	Identity *IdentitySource
	Trust    *TrustSource

	files    SourceFiles
	store    keys.Store
	log      *slog.Logger
	pollMu   sync.Mutex // one poll at a time
	mu       sync.Mutex // the state below
	mtimes   keys.FileStamps
	bundle   [2]*keys.Version // sign, enc versions in use, with the key store
	errs     int
	storeErr error // why the key store could not be read at the last poll
}

// NewSource loads everything once; a gateway does not start on an identity or trust
// store that does not load.
func NewSource(ctx context.Context, files SourceFiles, store keys.Store, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{Identity: &IdentitySource{}, Trust: &TrustSource{}, files: files, store: store, log: log, mtimes: keys.FileStamps{}}
	if err := s.reloadTrust(); err != nil {
		return nil, err
	}
	if s.fromStore() {
		if store == nil {
			return nil, errors.New("tlcp: identity names key-store keys but there is no key store")
		}
		for i, name := range []string{files.SignKeyName, files.EncKeyName} {
			v, err := store.Latest(ctx, name)
			if err != nil {
				return nil, fmt.Errorf("tlcp identity: %w", err)
			}
			s.bundle[i] = v
		}
		if err := s.applyBundles(s.bundle); err != nil {
			return nil, err
		}
	} else if err := s.reloadIdentityFiles(); err != nil {
		return nil, err
	}
	s.mtimes.Changed(s.watched()...) // record the mtimes loaded
	return s, nil
}

func (s *Source) fromStore() bool { return s.files.SignKeyName != "" }

func (s *Source) watched() []string {
	out := append(append([]string{}, s.files.ClientCA...), s.files.ClientCRL...)
	if !s.fromStore() {
		out = append(out, s.files.SignCert, s.files.SignKey, s.files.EncCert, s.files.EncKey)
	}
	return out
}

func (s *Source) reloadTrust() error {
	ts, err := LoadTrust(s.files.ClientCA, s.files.ClientCRL)
	if err != nil {
		return fmt.Errorf("tlcp trust: %w", err)
	}
	s.Trust.Store(ts)
	return nil
}

func (s *Source) reloadIdentityFiles() error {
	f := s.files
	id, err := LoadIdentity(f.SignCert, f.SignKey, f.EncCert, f.EncKey, f.Password)
	if err != nil {
		return fmt.Errorf("tlcp identity: %w", err)
	}
	return s.Identity.Store(id)
}

func (s *Source) applyBundles(b [2]*keys.Version) error {
	id, err := ParseIdentityBundles(b[0].Data, b[1].Data, s.files.Password)
	if err != nil {
		return fmt.Errorf("tlcp identity from %s v%d and %s v%d: %w", b[0].Name, b[0].Number, b[1].Name, b[1].Number, err)
	}
	return s.Identity.Store(id)
}

// Watch polls every interval until ctx ends, and warns of certificates near expiry at
// start and once a day.
func (s *Source) Watch(ctx context.Context, interval time.Duration) {
	s.WarnExpiry(time.Now())
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		day := time.NewTicker(24 * time.Hour)
		defer day.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.Poll(ctx)
			case now := <-day.C:
				s.WarnExpiry(now)
			}
		}
	}()
}

// WarnExpiry logs a warning for every certificate within 30, 7 or 1 days of expiry.
func (s *Source) WarnExpiry(now time.Time) {
	for _, c := range s.Certificates(now) {
		for _, days := range [...]int{1, 7, 30} {
			if c.DaysLeft <= days {
				s.log.Warn("certificate expires soon", "role", c.Role, "subject", c.Subject, "serial", c.Serial, "not_after", c.NotAfter, "within_days", days)
				break
			}
		}
	}
}

// Poll looks once for changes and applies them. Polls are serialised by pollMu; the
// key store is read without holding mu, so that /metrics and /readyz, which read the
// state, never wait on a slow store.
func (s *Source) Poll(ctx context.Context) {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	s.pollFiles()
	if !s.fromStore() {
		return
	}
	var next [2]*keys.Version
	var storeErr error
	for i, name := range []string{s.files.SignKeyName, s.files.EncKeyName} {
		v, err := s.store.Latest(ctx, name)
		if err != nil {
			storeErr = fmt.Errorf("%s: %w", name, err)
			break
		}
		next[i] = v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if storeErr != nil {
		if s.storeErr == nil {
			s.log.Warn("key store unreachable; the TLCP pair in use stays", "error", storeErr)
		}
		s.storeErr = storeErr
		return
	}
	s.storeErr = nil
	if next[0].Number == s.bundle[0].Number && next[1].Number == s.bundle[1].Number {
		return
	}
	if err := s.applyBundles(next); err != nil {
		s.errs++
		s.log.Error("new TLCP certificate pair refused; the running one stays", "error", err)
	} else {
		s.log.Info("TLCP certificate pair rotated; new handshakes use it", "sign_version", next[0].Number, "enc_version", next[1].Number)
	}
	s.bundle = next // a refused pair is not retried until a newer version comes
}

// pollFiles reloads the CA set, the CRL and a pair kept in files when they changed.
func (s *Source) pollFiles() {
	s.mu.Lock()
	defer s.mu.Unlock()
	trustFiles := append(append([]string{}, s.files.ClientCA...), s.files.ClientCRL...)
	if s.mtimes.Changed(trustFiles...) {
		if err := s.reloadTrust(); err != nil {
			s.errs++
			s.log.Error("new CA set or CRL refused; the running one stays", "error", err)
		} else {
			s.log.Info("CA set and CRL reloaded; new handshakes use them, open connections are checked against them at their next request")
		}
	}
	if s.fromStore() {
		return
	}
	f := s.files
	if s.mtimes.Changed(f.SignCert, f.SignKey, f.EncCert, f.EncKey) {
		if err := s.reloadIdentityFiles(); err != nil {
			s.errs++
			s.log.Error("new TLCP certificate pair refused; the running one stays", "error", err)
		} else {
			s.log.Info("TLCP certificate pair reloaded; new handshakes use it", "serial", s.Identity.Load().SignCert.SerialNumber.Text(16))
		}
	}
}

// Certificates lists the certificates in use now.
func (s *Source) Certificates(now time.Time) []crypto.CertInfo {
	var out []crypto.CertInfo
	add := func(role string, c *smx509.Certificate) {
		out = append(out, crypto.CertInfo{Role: role, Subject: c.Subject.String(), Serial: c.SerialNumber.Text(16), NotAfter: c.NotAfter, DaysLeft: int(c.NotAfter.Sub(now).Hours() / 24)})
	}
	if id := s.Identity.Load(); id != nil {
		add("tlcp-sign", id.SignCert)
		add("tlcp-enc", id.EncCert)
		for _, c := range id.Chain {
			add("tlcp-chain", c)
		}
	}
	if ts := s.Trust.Load(); ts != nil {
		for _, c := range ts.CAs {
			add("client-ca", c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Role < out[j].Role })
	return out
}

// Refused counts new versions refused since start.
func (s *Source) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errs
}

// Warning says why the pair in use may be stale: the key store could not be read.
func (s *Source) Warning() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.storeErr == nil {
		return ""
	}
	return "key store unreachable; the TLCP pair in use is the last good one: " + s.storeErr.Error()
}
