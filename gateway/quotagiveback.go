package gateway

import (
	"errors"

	"github.com/valyala/fasthttp"
)

// QuotaGiver is a decide stage that counts admitted exchanges against a quota and can give
// one back. The pipeline calls GiveBack at most once per exchange, only after Decide
// returned nil for it and only when forwarding failed in a way that proves no provider
// received any of the request (notDelivered): an exchange that carried nothing uses none
// of the agreement's quota, as it uses no nonce (nonces.go).
type QuotaGiver interface {
	GiveBack(ctx *fasthttp.RequestCtx, x *Exchange)
}

// notDelivered reports whether forward's failure proves that no byte of the request reached
// a provider. Only these, positively recognised, count; anything else (a timeout, a
// connection closed after writing, an unclassified error) may have reached one:
//
//   - no member was chosen (503 no_healthy_upstream);
//   - the request was refused as unforwardable before a connection was taken (400
//     missing_host, userinfo_in_target: checkForwardable);
//   - the pool had no free connection (503 upstream_busy);
//   - the last attempt could not open a connection (502 upstream_unreachable from a dial
//     error), or found only stale pooled connections (errStaleConn). The only retry is
//     after errStaleConn, which writes nothing (upstream.go retryStale), so every earlier
//     attempt of the exchange wrote nothing either.
func notDelivered(x *Exchange, err *Error) bool {
	if x.Upstream == "" {
		return true
	}
	if err.cause == nil {
		return err.Code == "missing_host" || err.Code == "userinfo_in_target"
	}
	var dial *upstreamDialError
	return errors.Is(err.cause, fasthttp.ErrNoFreeConns) || errors.As(err.cause, &dial) ||
		errors.Is(err.cause, errStaleConn)
}

// giveBackQuota returns the exchange's quota after a forward failure that notDelivered
// proves carried nothing.
func (g *Gateway) giveBackQuota(ctx *fasthttp.RequestCtx, x *Exchange, err *Error) {
	if !notDelivered(x, err) {
		return
	}
	if q, ok := g.stages.Decide.(QuotaGiver); ok {
		q.GiveBack(ctx, x)
	}
}
