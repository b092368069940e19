package gateway

import (
	"errors"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto/tlcp"
)

// trustedPeer is the TLCP peer of conn if it is still trusted now. A
// connection outlives the trust store it was verified against: when a new CRL or CA set
// has been loaded since — or the certificate has expired since — the peer is verified
// again (tlcp.Conn.TrustedPeer) and, if it no longer passes, this request is refused
// with 401, audited like every refusal, and the connection is closed after the answer
// (runningListener.afterExchange: an error response is written over ctx.Response, so a
// close asked for here would be lost).
func trustedPeer(conn *tlcp.Conn, now time.Time) (*tlcp.PeerCertificates, error) {
	peer, err := conn.TrustedPeer(now)
	if err == nil {
		return peer, nil
	}
	var ce *tlcp.CertError
	if !errors.As(err, &ce) {
		return nil, Errorf(fasthttp.StatusUnauthorized, "certificate_refused", "the connection's certificate is no longer accepted").withCause(err)
	}
	switch ce.Reason {
	case tlcp.ReasonNoCertificate:
		return nil, Errorf(fasthttp.StatusUnauthorized, "no_client_certificate", "the TLCP handshake did not verify a client certificate")
	case tlcp.ReasonRevoked:
		return nil, Errorf(fasthttp.StatusUnauthorized, "certificate_revoked", "the certificate of this connection has been revoked since it was opened").withCause(err)
	case tlcp.ReasonUntrusted:
		return nil, Errorf(fasthttp.StatusUnauthorized, "certificate_untrusted", "the certificate of this connection no longer chains to a trusted CA").withCause(err)
	case tlcp.ReasonExpired:
		return nil, Errorf(fasthttp.StatusUnauthorized, "certificate_expired", "the certificate of this connection has expired since it was opened").withCause(err)
	default:
		return nil, Errorf(fasthttp.StatusUnauthorized, "certificate_refused", "the certificate of this connection is no longer accepted").withCause(err)
	}
}

// now is the authenticator's clock, the system's when it has none.
func (a *PeerAuthenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// closeAfterAnswer is the request's user value a stage sets when the connection itself is
// refused (a TLS peer no longer trusted): the error response resets ctx.Response, so a
// close asked for on the response would be lost.
const closeAfterAnswer = "govgate.close-after-answer"

// peerRefused tells whether the connection's peer was refused: a TLCP peer by
// trustedPeer, a TLS peer by TLSPeerChecker.
func peerRefused(ctx *fasthttp.RequestCtx) bool {
	if tc, ok := ctx.Conn().(*tlcp.Conn); ok && tc.PeerRefused() {
		return true
	}
	return ctx.UserValue(closeAfterAnswer) != nil
}
