package assemble

import (
	"context"
	"fmt"
	"os"

	"github.com/govgate/govgate/crypto/tlcp"
	"github.com/govgate/govgate/gateway"
)

// tlcp loads the gateway's TLCP identity, its clients' CAs and CRL when a listener speaks
// TLCP, keeps them current (files, CRL and key-store versions are polled), and plugs in the
// transport, the authenticate stage that reads the peer's certificates, and GET /certs
// with the expiry metrics.
func (b *builder) tlcp() error {
	if !b.cfg.UsesTransport(gateway.TransportTLCP) {
		return nil
	}
	t := b.cfg.TLCP
	files := tlcp.SourceFiles{
		SignCert: t.SignCert, SignKey: t.SignKey, EncCert: t.EncCert, EncKey: t.EncKey,
		SignKeyName: t.SignKeyName, EncKeyName: t.EncKeyName, ClientCA: []string{t.ClientCA},
	}
	if t.ClientCRL != "" {
		files.ClientCRL = []string{t.ClientCRL}
	}
	if t.KeyPasswordEnv != "" {
		files.Password = []byte(os.Getenv(t.KeyPasswordEnv))
	}
	suites, err := tlcp.ParseSuites(t.CipherSuites)
	if err != nil {
		return fmt.Errorf("tlcp.cipher_suites: %w", err)
	}
	src, err := tlcp.NewSource(b.ctx, files, b.a.Store, b.log.With("component", "certs"))
	if err != nil {
		return err
	}
	b.watch(func(ctx context.Context) { src.Run(ctx, b.cfg.Keys.PollInterval) })
	b.authenticator()
	b.transport(gateway.TransportTLCP, &gateway.TLCPTransport{Identity: src.Identity, Trust: src.Trust, HandshakeTimeout: t.HandshakeTimeout,
		DigestVerifyOnly: t.ClientVerifyDigestOnly, Suites: suites})
	b.holdsCertificates(src)
	b.usesKeys(src)
	b.degrade("tlcp-keys", src)
	return nil
}
