package gateway

import (
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
	if err := checkForwardable(&ctx.Request); err != nil {
		return err
	}
	m.inFlight.Add(1)
	err := m.client.DoTimeout(&ctx.Request, &ctx.Response, e.Timeout)
	m.inFlight.Add(-1)
	if err != nil {
		ue, providerFault := upstreamError(err, e)
		if providerFault {
			e.pool.observe(m, true)
		}
		return ue
	}
	e.pool.observe(m, false)
	x.partial, x.span = partialResponse(&ctx.Response.Header)
	stripResponseHeaders(&ctx.Response.Header, x)
	return nil
}
