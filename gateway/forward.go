package gateway

import (
	"errors"
	"time"

	"github.com/valyala/fasthttp"
)

// forward sends the request to a member of the route's pool, in place: ctx.Request goes
// out as it is and the upstream's answer lands in ctx.Response.
func (g *Gateway) forward(ctx *fasthttp.RequestCtx, x *Exchange, e *routeEntry) *Error {
	m := e.pool.pick(time.Now().UnixNano())
	if m == nil {
		return Errorf(fasthttp.StatusServiceUnavailable, "no_healthy_upstream", "no member of pool %s is healthy", e.Pool)
	}
	x.Upstream = m.addr
	for _, kv := range e.pool.headers {
		ctx.Request.Header.SetBytesKV(kv[0], kv[1])
	}
	setUpstreamTarget(&ctx.Request, m)
	m.inFlight.Add(1)
	err := m.client.DoTimeout(&ctx.Request, &ctx.Response, e.Timeout)
	m.inFlight.Add(-1)
	e.pool.observe(m, err != nil)
	if err != nil {
		return upstreamError(err, e)
	}
	stripResponseHeaders(&ctx.Response.Header, x)
	return nil
}

func upstreamError(err error, e *routeEntry) *Error {
	switch {
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return Errorf(fasthttp.StatusServiceUnavailable, "upstream_busy", "pool %s has no free connection", e.Pool).withCause(err)
	case errors.Is(err, fasthttp.ErrTimeout):
		return Errorf(fasthttp.StatusGatewayTimeout, "upstream_timeout", "the provider did not answer within %s", e.Timeout).withCause(err)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return Errorf(fasthttp.StatusBadGateway, "upstream_response_too_large", "the provider's response exceeds %d bytes", e.pool.cfg.MaxResponseBytes).withCause(err)
	default:
		return Errorf(fasthttp.StatusBadGateway, "upstream_unreachable", "the provider could not be reached").withCause(err)
	}
}
