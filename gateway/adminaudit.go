package gateway

import (
	"errors"
	"time"

	"github.com/govgate/govgate/wire"

	"github.com/valyala/fasthttp"
)

// adminExchange is the exchange an admin request is recorded as, an admin action (no
// route): the role the endpoint needs, and the caller's certificate when the API speaks
// TLCP (on a plain loopback API the record's client address is all there is of who).
func (g *Gateway) adminExchange(c *adminCaller, need Role, start time.Time) *Exchange {
	x := g.exchanges.get()
	x.Start = start
	g.nextRequestID(x)
	x.Admin = need
	if c != nil {
		x.Identity = Identity{System: c.peer.Sign.Subject.CommonName, CertSerial: c.peer.SerialHex, Issuer: c.peer.Sign.Issuer.CommonName, Auth: "tlcp"}
		x.Identity.Dept = DeptOf(c.peer.SignURIs)
	}
	return x
}

// adminAttempt marks, as a user value of the request, the record of an admin action made
// before the action runs: AuditStage records it with status 0 (no answer yet).
type adminAttempt struct{}

// adminRecordKind is what an admin answer's wire.HeaderRecordKind says: the audit record
// kind of admin requests (audit.KindAdmin; gateway does not import audit).
const adminRecordKind = "admin"

// AdminAttempt reports whether the record being made is that of an admin action before it
// runs: its status is then no answer yet (0).
func AdminAttempt(ctx *fasthttp.RequestCtx) bool { return ctx.UserValue(adminAttempt{}) != nil }

// auditAdminAttempt makes the record of a state change durable before it runs. Without an
// audit stage (the operator's explicit choice at start) there is nothing to write.
func (g *Gateway) auditAdminAttempt(ctx *fasthttp.RequestCtx, x *Exchange) error {
	if g.stages.Audit == nil {
		return nil
	}
	ctx.SetUserValue(adminAttempt{}, true)
	_, err := g.audit(ctx, x)
	ctx.RemoveUserValue(adminAttempt{})
	return err
}

// auditAdmin records an admin request once it is answered — allowed or refused — and
// decides, by its kind, what happens when the record cannot be made durable: a probe's
// answer is sent anyway (logged), any other answer is replaced by 503 audit_unavailable;
// ran says that a state change has already taken effect (its attempt was recorded), which
// the 503 then says. An answered probe is not recorded: it changes nothing, shows nothing
// but its own answer, and a scraper every few seconds would fill the log with it.
func (g *Gateway) auditAdmin(ctx *fasthttp.RequestCtx, x *Exchange, kind adminKind, ran bool) {
	defer func() {
		ctx.Response.Header.SetBytesV(wire.HeaderRequestID, x.ID)
		ctx.Response.Header.Set(wire.HeaderRecordKind, adminRecordKind)
	}()
	if g.stages.Audit == nil || (kind == adminProbe && x.Err == nil) {
		return
	}
	_, err := g.audit(ctx, x)
	if err == nil {
		return
	}
	path, status := string(ctx.Path()), ctx.Response.StatusCode()
	switch {
	case kind == adminProbe:
		g.log.Error("admin probe answered without its audit record", "request_id", string(x.ID), "path", path, "status", status, "error", err)
		return
	case ran:
		g.log.Error("admin action ran but its outcome could not be recorded; its attempt is on the record", "request_id", string(x.ID), "path", path, "status", status, "error", err)
		writeError(&ctx.Response, Errorf(fasthttp.StatusServiceUnavailable, "audit_unavailable",
			"the action was carried out (it answered %d) and its attempt is on the record under this request id, but its outcome could not be recorded", status), x.ID)
	default:
		g.log.Error("admin request refused: its audit record could not be written", "request_id", string(x.ID), "path", path, "status", status, "error", err)
		writeError(&ctx.Response, Errorf(fasthttp.StatusServiceUnavailable, "audit_unavailable",
			"the audit record of this request could not be written; it was not answered"), x.ID)
	}
}

// handleAdminReadError is the admin server's ErrorHandler: a request it could not read (a
// body over 1 MiB, a malformed Content-Length, headers too large, too slow) is answered
// with the admin API's JSON error and recorded like any refusal, as handleReadError does
// for the data listeners. The caller is named when its certificate can be read.
func (g *Gateway) handleAdminReadError(ctx *fasthttp.RequestCtx, err error) {
	start := time.Now()
	var e *Error
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		e = Errorf(fasthttp.StatusRequestEntityTooLarge, "body_too_large", "admin request bodies are limited to %d bytes", adminMaxBody)
	case errors.As(err, &small):
		e = Errorf(fasthttp.StatusRequestHeaderFieldsTooLarge, "headers_too_large", "the request headers are too large")
	case isTimeout(err):
		e = Errorf(fasthttp.StatusRequestTimeout, "request_timeout", "the request was not received in time")
	default:
		e = Errorf(fasthttp.StatusBadRequest, "bad_request", "the request could not be parsed")
	}
	ep := g.adminEndpoint(string(ctx.Method()), string(ctx.Path()))
	caller, _ := g.authorizeAdmin(ctx, ep.role)
	x := g.adminExchange(caller, ep.role, start)
	defer g.exchanges.put(x)
	x.Err = e.WithCause(err)
	writeError(&ctx.Response, e, x.ID)
	ctx.SetConnectionClose()
	kind := adminRead
	if ep.kind == adminProbe {
		kind = adminProbe
	}
	g.auditAdmin(ctx, x, kind, false)
}
