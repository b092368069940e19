package gateway

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto"
)

// Defaults of the replay window and cache (tlcp.* in the config).
const (
	DefaultMaxNonces = crypto.DefaultMaxNonces
	// DefaultDeptShareDivisor: by default one department holds at most a quarter of the
	// cache (250000 of 1000000 nonces: ~830 signed requests/s sustained over 300 s).
	DefaultDeptShareDivisor = 4
)

// SignaturePolicy is how request signatures are checked and their nonces remembered.
type SignaturePolicy struct {
	Skew             time.Duration // how old created may be (default 300 s)
	FutureSkew       time.Duration // how far ahead created may be (default 30 s, at most Skew)
	MaxNonces        int           // nonces remembered in all (default 1000000)
	MaxNoncesPerDept int           // nonces one department may hold (default MaxNonces/4)
}

// SignaturePolicy is the policy the tlcp section configures.
func (t TLCP) SignaturePolicy() SignaturePolicy {
	return SignaturePolicy{Skew: t.SignatureSkew, FutureSkew: t.SignatureFutureSkew, MaxNonces: t.MaxNonces, MaxNoncesPerDept: t.MaxNoncesPerDept}
}

// NonceReleaser is an Authenticator that claims nonces: the pipeline calls ReleaseNonce
// for an exchange refused before it was forwarded.
type NonceReleaser interface {
	ReleaseNonce(ctx *fasthttp.RequestCtx, x *Exchange) error
}

// releaseNonce gives back the nonce of an exchange refused before any provider member was
// chosen (no route, denied, no healthy member): only exchanges that reach a provider
// keep their claim, so that refused requests use none of the department's share. A
// release that fails leaves the nonce claimed, the safe side.
func (g *Gateway) releaseNonce(ctx *fasthttp.RequestCtx, x *Exchange) {
	if !x.Signature.Claimed || x.Upstream != "" {
		return
	}
	r, ok := g.stages.Authenticate.(NonceReleaser)
	if !ok {
		return
	}
	if err := r.ReleaseNonce(ctx, x); err != nil {
		g.log.Warn("replay store: a refused exchange's nonce stays claimed", "request_id", string(x.ID), "error", err)
	}
	x.Signature.Claimed = false
}
