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
// stays. Two keys.Watchers do the watching: one for the CA set and CRL, one for the pair,
// whose signing and encryption halves are read and swapped together.
type Source struct {
	Identity *IdentitySource
	Trust    *TrustSource

	files    SourceFiles
	log      *slog.Logger
	trust    *keys.Watcher
	identity *keys.Watcher
}

// NewSource loads everything once; a gateway does not start on an identity or trust
// store that does not load. Watch or Poll looks for changes after.
func NewSource(ctx context.Context, files SourceFiles, store keys.Store, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{Identity: &IdentitySource{}, Trust: &TrustSource{}, files: files, log: log}
	s.trust = &keys.Watcher{What: "TLCP CA set and CRL", Files: append(append([]string{}, files.ClientCA...), files.ClientCRL...), Logger: log,
		Apply: func([]*keys.Version) error { return s.reloadTrust() }}
	s.identity = &keys.Watcher{What: "TLCP certificate pair", Logger: log}
	if files.SignKeyName != "" {
		if store == nil {
			return nil, errors.New("tlcp: identity names key-store keys but there is no key store")
		}
		s.identity.Store, s.identity.Names = store, []string{files.SignKeyName, files.EncKeyName}
		s.identity.Apply = s.applyBundles
	} else {
		s.identity.Files = []string{files.SignCert, files.SignKey, files.EncCert, files.EncKey}
		s.identity.Apply = func([]*keys.Version) error { return s.reloadIdentityFiles() }
	}
	if err := s.trust.Load(ctx); err != nil {
		return nil, err
	}
	if err := s.identity.Load(ctx); err != nil {
		return nil, fmt.Errorf("tlcp identity: %w", err)
	}
	return s, nil
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

// applyBundles swaps in the pair from its two key-store versions, both or neither.
func (s *Source) applyBundles(b []*keys.Version) error {
	id, err := ParseIdentityBundles(b[0].Data, b[1].Data, s.files.Password)
	if err != nil {
		return fmt.Errorf("tlcp identity from %s v%d and %s v%d: %w", b[0].Name, b[0].Number, b[1].Name, b[1].Number, err)
	}
	return s.Identity.Store(id)
}

// Run looks for changes every interval until ctx ends, and warns of certificates near
// expiry at start and once a day; it returns when ctx ends and its watchers have stopped.
func (s *Source) Run(ctx context.Context, interval time.Duration) {
	s.trust.Interval, s.identity.Interval = interval, interval
	s.WarnExpiry(time.Now())
	var wg sync.WaitGroup
	for _, w := range []*keys.Watcher{s.trust, s.identity} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.Run(ctx)
		}()
	}
	day := time.NewTicker(24 * time.Hour)
	defer day.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case now := <-day.C:
			s.WarnExpiry(now)
		}
	}
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

// Poll looks once for changes to the CA set, the CRL and the pair, and applies them.
func (s *Source) Poll(ctx context.Context) {
	s.trust.Poll(ctx)
	s.identity.Poll(ctx)
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

// Refused counts new CA sets, CRLs and pairs refused since start.
func (s *Source) Refused() int { return s.trust.Refused() + s.identity.Refused() }

// Warning says why the pair in use may be stale: the key store could not be read.
func (s *Source) Warning() string {
	if err := s.identity.Err(); err != nil {
		return "key store unreachable; the TLCP pair in use is the last good one: " + err.Error()
	}
	return ""
}

// InUse maps the pair's key-store names to the versions in use; empty for a pair of files.
func (s *Source) InUse() map[string]int { return s.identity.InUse() }
