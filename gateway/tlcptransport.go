package gateway

import (
	"net"
	"time"

	"github.com/govgate/govgate/crypto/tlcp"
)

// TLCPTransport makes tlcp listeners for the gateway from the current identity and trust
// store; storing new ones into the sources rotates them for later handshakes.
type TLCPTransport struct {
	Identity         *tlcp.IdentitySource
	Trust            *tlcp.TrustSource
	HandshakeTimeout time.Duration
	// DigestVerifyOnly is tlcp.client_verify_digest_only.
	DigestVerifyOnly bool
	// clientVerify is shared by every listener wrapped, so that its counts outlive a
	// listener a reload restarts.
	clientVerify tlcp.ClientVerifyStats
	Suites       []tlcp.Suite // preference order; nil is tlcp.DefaultSuites()
}

// Wrap implements ListenerProvider.
func (t *TLCPTransport) Wrap(ln net.Listener) (net.Listener, error) {
	return tlcp.NewListener(ln, tlcp.ServerConfig{Identity: t.Identity, Trust: t.Trust, HandshakeTimeout: t.HandshakeTimeout,
		DigestVerifyOnly: t.DigestVerifyOnly, ClientVerify: &t.clientVerify, Suites: t.Suites})
}
