package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/keys"
)

// TLSFiles are a standard (non-SM2) TLS listener's certificate and the CAs and CRL its
// clients' certificates are checked against. Go's TLS stack has no SM2, so these are
// ECDSA or RSA certificates carrying the same identity profile: the department in the SAN
// URI urn:govgate:dept:<code>, the system as CN.
type TLSFiles struct {
	Cert, Key string // empty when Certificates supplies the server certificate
	ClientCA  []string
	ClientCRL []string
}

// CertificateSource supplies the server certificate of tls listeners instead of files —
// certmagic with ACME (certs.ACME) — and answers the tls-alpn-01 challenge on the listener
// itself: a handshake offering acme-tls/1 gets ChallengeConfig, and no client certificate
// is asked of the CA's validator.
type CertificateSource interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	ChallengeConfig() *tls.Config
}

// tlsState is one loaded configuration, swapped whole.
type tlsState struct {
	cert    tls.Certificate
	roots   *x509.CertPool
	cas     []*x509.Certificate
	revoked map[string]bool
	// verdicts caches CheckPeer's answers for open connections under this state.
	verdicts tlsVerdicts
}

// TLSTransport makes tls listeners for the gateway: mutual TLS 1.2+ with client
// certificates required and verified against the configured CAs and CRL. Reload swaps in
// new files for the handshakes after it.
type TLSTransport struct {
	files   TLSFiles
	source  CertificateSource
	domains []string // the names ACME certificates are for, to list them
	state   atomic.Pointer[tlsState]
	refused atomic.Int64
}

// NewTLSTransport loads files; nothing is served with a configuration that does not load.
// With source, the server certificate comes from it and files name only the client CAs
// and CRL.
func NewTLSTransport(files TLSFiles, source CertificateSource, domains ...string) (*TLSTransport, error) {
	t := &TLSTransport{files: files, source: source, domains: domains}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload reads the files again; on error the running configuration stays.
func (t *TLSTransport) Reload() error {
	st := &tlsState{roots: x509.NewCertPool(), revoked: map[string]bool{}}
	if t.source == nil {
		if err := checkKeyMode(t.files.Key); err != nil {
			return err
		}
		cert, err := tls.LoadX509KeyPair(t.files.Cert, t.files.Key)
		if err != nil {
			return fmt.Errorf("tls certificate: %w", err)
		}
		st.cert = cert
	}
	var cas []*x509.Certificate
	for _, f := range t.files.ClientCA {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("tls client CA: %w", err)
		}
		for rest := b; ; {
			var blk *pem.Block
			if blk, rest = pem.Decode(rest); blk == nil {
				break
			}
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return fmt.Errorf("tls client CA %s: %w", f, err)
			}
			cas = append(cas, c)
			st.roots.AddCert(c)
			st.cas = append(st.cas, c)
		}
	}
	if len(cas) == 0 {
		return errors.New("tls client CA: no certificate")
	}
	for _, f := range t.files.ClientCRL {
		if err := st.addCRL(f, cas); err != nil {
			return err
		}
	}
	t.state.Store(st)
	return nil
}

func (st *tlsState) addCRL(path string, cas []*x509.Certificate) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("tls client CRL: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "X509 CRL" {
		return fmt.Errorf("tls client CRL %s: no X509 CRL block", path)
	}
	crl, err := x509.ParseRevocationList(blk.Bytes)
	if err != nil {
		return fmt.Errorf("tls client CRL %s: %w", path, err)
	}
	signed := false
	for _, ca := range cas {
		signed = signed || crl.CheckSignatureFrom(ca) == nil
	}
	if !signed {
		return fmt.Errorf("tls client CRL %s: not signed by a configured CA", path)
	}
	for _, e := range crl.RevokedCertificateEntries {
		st.revoked[e.SerialNumber.Text(16)] = true
	}
	return nil
}

func checkKeyMode(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("tls key: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("tls key %s: mode %o lets others read it; chmod 600", path, info.Mode().Perm())
	}
	return nil
}

// Run reloads the files when one of them changes, looking every interval, until ctx
// ends. A reload that fails is logged and counted, and the running configuration stays.
func (t *TLSTransport) Run(ctx context.Context, interval time.Duration, log *slog.Logger) {
	files := append(append([]string{}, t.files.ClientCA...), t.files.ClientCRL...)
	if t.source == nil {
		files = append(files, t.files.Cert, t.files.Key)
	}
	w := &keys.Watcher{What: "TLS certificate, CA set and CRL", Files: files, Interval: interval, Logger: log,
		Apply: func([]*keys.Version) error {
			if err := t.Reload(); err != nil {
				t.refused.Add(1)
				return err
			}
			return nil
		}}
	// NewTLSTransport loaded the files; Load takes their times and applies them again, to
	// no effect unless they changed since — and a failure then leaves the running
	// configuration as any refused reload does, and the watch goes on.
	if err := w.Load(ctx); err != nil {
		log.Error("new TLS certificate, CA set or CRL refused; the running one stays", "error", err)
	}
	w.Run(ctx)
}

// acmeTLS1 is the ALPN protocol of the tls-alpn-01 challenge (RFC 8737).
const acmeTLS1 = "acme-tls/1"

// Wrap makes ln a tls listener (the gateway's ListenerProvider).
func (t *TLSTransport) Wrap(ln net.Listener) (net.Listener, error) {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if t.source != nil && slices.Contains(hello.SupportedProtos, acmeTLS1) {
				return t.source.ChallengeConfig(), nil
			}
			st := t.state.Load()
			var certs []tls.Certificate
			var getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
			if t.source != nil {
				getCert = t.source.GetCertificate
			} else {
				certs = []tls.Certificate{st.cert}
			}
			return &tls.Config{
				MinVersion:             tls.VersionTLS12,
				Certificates:           certs,
				GetCertificate:         getCert,
				ClientAuth:             tls.RequireAndVerifyClientCert,
				ClientCAs:              st.roots,
				SessionTicketsDisabled: true,
				VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
					for _, chain := range chains {
						for _, c := range chain {
							if st.revoked[c.SerialNumber.Text(16)] {
								return fmt.Errorf("certificate %s is revoked", c.SerialNumber.Text(16))
							}
						}
					}
					return nil
				},
			}, nil
		},
	}
	cfg.NextProtos = []string{"http/1.1", acmeTLS1}
	return tls.NewListener(ln, cfg), nil
}

// Certificates lists the server certificate in use and the client CAs.
func (t *TLSTransport) Certificates(now time.Time) []crypto.CertInfo {
	var out []crypto.CertInfo
	add := func(role string, c *x509.Certificate) {
		out = append(out, crypto.CertInfo{Role: role, Subject: c.Subject.String(), Serial: c.SerialNumber.Text(16), NotAfter: c.NotAfter, DaysLeft: int(c.NotAfter.Sub(now).Hours() / 24)})
	}
	st := t.state.Load()
	var leaves [][]byte
	if t.source == nil {
		leaves = append(leaves, st.cert.Certificate[0])
	} else {
		for _, d := range t.domains {
			if c, err := t.source.GetCertificate(&tls.ClientHelloInfo{ServerName: d}); err == nil && len(c.Certificate) > 0 {
				leaves = append(leaves, c.Certificate[0])
			}
		}
	}
	for _, der := range leaves {
		if c, err := x509.ParseCertificate(der); err == nil {
			add("tls-server", c)
		}
	}
	for _, c := range st.cas {
		add("tls-client-ca", c)
	}
	return out
}

// Refused counts reloads refused since start.
func (t *TLSTransport) Refused() int { return int(t.refused.Load()) }

// Warning is empty: files on disk cannot be unreachable the way a key store can.
func (t *TLSTransport) Warning() string { return "" }
