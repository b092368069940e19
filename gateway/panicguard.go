package gateway

import (
	"fmt"
	"runtime/debug"

	"github.com/valyala/fasthttp"
)

// errInternal is an exchange the gateway failed on itself: a panic in a stage, reached by
// what a consumer or a provider sent. fasthttp recovers no panic, so without this guard
// one crafted header ended the process and every department's exchanges with it (a
// provider's Content-Range of 2^63-1 did, before its overflow was fixed). The exchange is
// refused — or its transfer cut — and recorded, and the connection closed: what the
// failed stage left half done is never reused.
func errInternal(r any) *Error {
	return Errorf(fasthttp.StatusInternalServerError, codeInternal, "the gateway failed on this exchange; it is recorded").WithCause(fmt.Errorf("panic: %v", r))
}

// codeInternal is errInternal's code.
const codeInternal = "internal_error"

// guardPanic turns a panic in the calling function into *err, logged with its stack. It
// must be deferred directly.
func (g *Gateway) guardPanic(id []byte, err **Error) {
	r := recover()
	if r == nil {
		return
	}
	g.log.Error("panic in an exchange", "request_id", string(id), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	*err = errInternal(r)
}

// runGuarded is run with a panic turned into internal_error.
func (g *Gateway) runGuarded(ctx *fasthttp.RequestCtx, x *Exchange, rt *runtime, tlsLike bool) (err *Error) {
	defer g.guardPanic(x.ID, &err)
	return g.run(ctx, x, rt, tlsLike)
}

// runAdminGuarded runs an admin endpoint with a panic turned into internal_error: an
// administrator's request that reaches a defect (a proof of an odd index, a policy input)
// fails alone and is recorded, instead of ending every department's exchanges with the
// process — the admin API's roles (an auditor's reads) must not reach the data plane.
// What the handler had written is dropped; the connection is closed.
func (g *Gateway) runAdminGuarded(ctx *fasthttp.RequestCtx, x *Exchange, h fasthttp.RequestHandler) {
	var failed *Error
	defer func() {
		if failed != nil {
			x.Err = failed
			ctx.Response.Reset()
			writeError(&ctx.Response, failed, x.ID)
			ctx.SetConnectionClose()
		}
	}()
	defer g.guardPanic(x.ID, &failed)
	h(ctx)
}

// produceGuarded is produce with a panic turned into a cut of this transfer: it ends
// visibly incomplete and on the record, and the process goes on.
func (s *streamBody) produceGuarded() (err error) {
	var e *Error
	defer func() {
		if e != nil {
			err = e
		}
	}()
	defer s.g.guardPanic(s.x.ID, &e)
	return s.produce()
}

// closeUpstreamOnPanic gives the provider's connection back when a stage panics while up is
// still the caller's (before the stream takes it): runGuarded recovers the panic further
// up, and a connection never given back is one fewer in its pool for good — with a pool of
// one, every later exchange to that provider was refused upstream_busy. It must be deferred
// directly; the panic goes on to runGuarded with its stack.
func closeUpstreamOnPanic(up *fasthttp.Response) {
	if r := recover(); r != nil {
		closeUpstream(up, errStreamRefused)
		panic(r)
	}
}

// audit runs the audit stage with a panic turned into an error: a record the stage failed
// on is a record not made durable, and the exchange fails closed as for any (503
// audit_unavailable, or the transfer cut) instead of ending the process. finish and the
// stream's record are outside runGuarded and produceGuarded.
func (g *Gateway) audit(ctx *fasthttp.RequestCtx, x *Exchange) (receipt []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			g.log.Error("panic in the audit stage", "request_id", string(x.ID), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			receipt, err = nil, fmt.Errorf("panic in the audit stage: %v", r)
		}
	}()
	return g.stages.Audit.Audit(ctx, x, x.receipt[:0])
}
