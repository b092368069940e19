package gateway

import (
	"errors"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto/tlcp"
)

// TrustedPeer is the TLCP peer of conn if it is still trusted now. A
// connection outlives the trust store it was verified against: when a new CRL or CA set
// has been loaded since — or the certificate has expired since — the peer is verified
// again (tlcp.Conn.TrustedPeer) and, if it no longer passes, this request is refused
// with 401, audited like every refusal, and the connection is closed after the answer
// (runningListener.afterExchange: an error response is written over ctx.Response, so a
// close asked for here would be lost).
func TrustedPeer(conn *tlcp.Conn, now time.Time) (*tlcp.PeerCertificates, error) {
	peer, err := conn.TrustedPeer(now)
	if err == nil {
		return peer, nil
	}
	var ce *tlcp.CertError
	if !errors.As(err, &ce) {
		return nil, Errorf(fasthttp.StatusUnauthorized, "certificate_refused", "the connection's certificate is no longer accepted").WithCause(err)
	}
	switch ce.Reason {
	case tlcp.ReasonNoCertificate:
		return nil, Errorf(fasthttp.StatusUnauthorized, "no_client_certificate", "the TLCP handshake did not verify a client certificate")
	case tlcp.ReasonRevoked:
		return nil, Errorf(fasthttp.StatusUnauthorized, "certificate_revoked", "the certificate of this connection has been revoked since it was opened").WithCause(err)
	case tlcp.ReasonUntrusted:
		return nil, Errorf(fasthttp.StatusUnauthorized, "certificate_untrusted", "the certificate of this connection no longer chains to a trusted CA").WithCause(err)
	case tlcp.ReasonExpired:
		return nil, Errorf(fasthttp.StatusUnauthorized, "certificate_expired", "the certificate of this connection has expired since it was opened").WithCause(err)
	default:
		return nil, Errorf(fasthttp.StatusUnauthorized, "certificate_refused", "the certificate of this connection is no longer accepted").WithCause(err)
	}
}

// closeAfterAnswer is the request's user value a stage sets when the connection itself is
// refused (a TLS peer no longer trusted): the error response resets ctx.Response, so a
// close asked for on the response would be lost.
const closeAfterAnswer = "govgate.close-after-answer"

// CloseAfterAnswer asks that the connection be closed once this request is answered: its
// peer itself was refused (a TLS peer no longer trusted).
func CloseAfterAnswer(ctx *fasthttp.RequestCtx) { ctx.SetUserValue(closeAfterAnswer, true) }

// peerRefused tells whether the connection's peer was refused: a TLCP peer by
// TrustedPeer, a TLS peer by the authenticate stage (CloseAfterAnswer).
func peerRefused(ctx *fasthttp.RequestCtx) bool {
	if tc, ok := ctx.Conn().(*tlcp.Conn); ok && tc.PeerRefused() {
		return true
	}
	return ctx.UserValue(closeAfterAnswer) != nil
}
