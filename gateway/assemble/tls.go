package assemble

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/gateway"
)

// tls sets up the standard mutual-TLS transport when a listener speaks tls: its
// certificate from files or from ACME, its clients' CAs and CRL, reloaded when they
// change, and the same authenticate stage as tlcp's, which holds open tls connections to
// the CA set and CRL in force.
func (b *builder) tls() error {
	cfg := b.cfg
	if !cfg.UsesTransport(gateway.TransportTLS) {
		return nil
	}
	files := certs.TLSFiles{Cert: cfg.TLS.Cert, Key: cfg.TLS.Key, ClientCA: []string{cfg.TLS.ClientCA}}
	if cfg.TLS.ClientCRL != "" {
		files.ClientCRL = []string{cfg.TLS.ClientCRL}
	}
	var source certs.CertificateSource
	if cfg.TLS.ACME.DirectoryURL != "" {
		acme, err := newACME(cfg)
		if err != nil {
			return err
		}
		// certmagic's cache maintains certificates from the moment it exists.
		b.onClose("acme", func() error { acme.Stop(); return nil })
		if err := acme.ManageAsync(b.ctx); err != nil {
			return err
		}
		source = acme
	}
	tr, err := certs.NewTLSTransport(files, source, cfg.TLS.ACME.Domains...)
	if err != nil {
		return err
	}
	b.watch(func(ctx context.Context) { tr.Run(ctx, cfg.Keys.PollInterval, b.log.With("component", "tls")) })
	b.holdsCertificates(tr)
	b.authenticator().TLSTrust = tr
	b.transport(gateway.TransportTLS, tr)
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

// CertsEndpoint is GET /certs on the admin API, for the cryptography administrator: every
// certificate l's holders hold.
func CertsEndpoint(l *certs.Lister) gateway.AdminHandler {
	return gateway.AdminHandler{Role: gateway.RoleCryptoAdmin, Method: fasthttp.MethodGet, Path: "/certs", Handler: func(ctx *fasthttp.RequestCtx) {
		gateway.WriteJSON(ctx, fasthttp.StatusOK, map[string]any{"certificates": l.All(time.Now())})
	}}
}
