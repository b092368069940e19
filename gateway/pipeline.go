package gateway

import (
	"errors"
	"time"

	"github.com/govgate/govgate/wire"

	"github.com/valyala/fasthttp"
)

// handle runs one exchange through the pipeline: authenticate, route, decide, forward,
// release, then audit — the last whether or not an earlier stage refused, since a refused
// exchange is on the record too.
func (g *Gateway) handle(rl *runningListener, ctx *fasthttp.RequestCtx) {
	rt := g.rt.Load()
	x := g.startExchange(rl)
	streaming := false
	defer func() {
		if !streaming {
			g.exchanges.put(x)
		}
	}()

	err := g.runGuarded(ctx, x, rt, rl.cfg.Transport != TransportPlain)
	if err != nil {
		g.releaseNonce(ctx, x) // refused before a provider was chosen: no share used
		x.Err = err
		if err.cause != nil {
			g.log.Warn("exchange failed", "request_id", string(x.ID), "code", err.Code, "error", err.cause)
		}
		writeError(&ctx.Response, err, x.ID)
		if err.Code == codeInternal {
			ctx.SetConnectionClose() // what the failed stage left half done is not reused
		}
	}
	endUpload(ctx, x) // after writeError, which resets the response and its Connection field
	if err == nil && x.Transfer != nil {
		// The body streams: the exchange is recorded, and x given back, when the transfer
		// ends (streambody.go).
		streaming = true
		return
	}
	g.finish(ctx, x, rt)
}

// startExchange takes a pooled exchange for a request arriving on rl.
func (g *Gateway) startExchange(rl *runningListener) *Exchange {
	x := g.exchanges.get()
	x.Start = time.Now()
	x.Listener = &rl.cfg
	g.nextRequestID(x)
	return x
}

func (g *Gateway) run(ctx *fasthttp.RequestCtx, x *Exchange, rt *runtime, tlsLike bool) *Error {
	h := &ctx.Request.Header
	clientClose := h.ConnectionClose()
	if err := g.prepareRequestBody(ctx, x, rt); err != nil {
		return err
	}
	if err := captureDeclared(h, x); err != nil {
		return err
	}
	if err := stripRequestHeaders(h, x); err != nil {
		return err
	}
	if clientClose {
		// Stripping Connection must not turn the client's "close" into keep-alive.
		ctx.SetConnectionClose()
	}
	if neverForwarded(h.Method()) {
		return errMethodNeverForwarded(h.Method())
	}
	path := routedPath(h)
	if path == nil {
		return errAmbiguousPath()
	}

	t := x.Start
	if g.stages.Authenticate != nil {
		err := g.stages.Authenticate.Authenticate(ctx, x)
		t = g.stageDone(StageAuthenticate, t)
		if err != nil {
			return stageError(StageAuthenticate, err)
		}
	}
	if !x.Identity.Signed {
		// Only a verified signature checks Content-Digest; a digest nobody checked is
		// neither forwarded nor recorded, since both would assert a body it may not be.
		h.Del(HeaderContentDigest)
	}
	// After authentication, so the record names who sent it; before routing and the
	// decision, so no decision is made and no quota taken on a method the provider would
	// not act on (methodparams.go).
	if err := refuseMethodParams(&ctx.Request, x.Upload != nil); err != nil {
		return err
	}

	if g.stages.Catalog != nil && string(ctx.Path()) == CatalogPath {
		return g.serveCatalog(ctx, x, rt)
	}
	if g.stages.Proofs != nil && isProofPath(ctx.Path()) {
		return g.serveProof(ctx, x)
	}

	// Routed on the raw path, which is what the provider receives.
	e := rt.router.match(ctx.Host(), path)
	t = g.stageDone(StageRoute, t)
	if e == nil {
		return errNoRoute()
	}
	x.Route, x.entry = &e.Route, e
	if e.RequireSignature && !x.Identity.Signed {
		return Errorf(fasthttp.StatusUnauthorized, "signature_required", "route %s requires an SM2 request signature (Signature-Input, Signature, Content-Digest)", e.ID)
	}

	if g.stages.Decide != nil {
		err := g.stages.Decide.Decide(ctx, x)
		t = g.stageDone(StageDecide, t)
		if err != nil {
			return stageError(StageDecide, err)
		}
	}

	setForwardedHeaders(ctx, x, tlsLike)
	if streamed(ctx, e) {
		if err := g.checkUpload(ctx, x, rt, e); err != nil {
			g.giveBackQuota(ctx, x, err) // refused before a provider was chosen
			return err
		}
		up, err := g.forwardStream(ctx, x, e)
		t = g.stageDone(StageForward, t)
		if ce := uploadCut(x); ce != nil && err != nil {
			err = ce // the consumer's body was cut: the request never reached the provider whole
		}
		if err != nil {
			g.giveBackQuota(ctx, x, err)
			return err
		}
		if up != nil {
			err := g.releaseStream(ctx, x, rt, up)
			g.stageDone(StageRelease, t)
			return err
		}
		return g.release(ctx, x, t) // no body: released as a buffered answer
	}
	if x.Upload != nil {
		// Routed elsewhere than prepareRequestBody found (a HEAD, a route that does not
		// stream): the body was not buffered, so it cannot be forwarded as a query's.
		return Errorf(fasthttp.StatusBadRequest, "bad_request", "the request body cannot be sent to this route")
	}
	err := g.forward(ctx, x, e)
	t = g.stageDone(StageForward, t)
	if err != nil {
		g.giveBackQuota(ctx, x, err) // when nothing reached a provider (quotagiveback.go)
		return err
	}
	return g.release(ctx, x, t)
}

// release runs the release stage over a buffered answer.
func (g *Gateway) release(ctx *fasthttp.RequestCtx, x *Exchange, t time.Time) *Error {
	if err := unaskedNotModified(ctx); err != nil {
		return err
	}
	if g.stages.Release != nil {
		err := g.stages.Release.Release(ctx, x)
		g.stageDone(StageRelease, t)
		if err != nil {
			return stageError(StageRelease, err)
		}
	}
	return checkPartial(ctx, x, true)
}

// serveCatalog answers the catalog request itself: it is not routed to any provider, but it
// is authenticated and audited like every exchange.
func (g *Gateway) serveCatalog(ctx *fasthttp.RequestCtx, x *Exchange, rt *runtime) *Error {
	if !ctx.IsGet() && !ctx.IsHead() {
		return Errorf(fasthttp.StatusMethodNotAllowed, "method_not_allowed", "the catalog is read with GET")
	}
	if err := g.stages.Catalog.ServeCatalog(ctx, x); err != nil {
		return stageError(StageDecide, err)
	}
	if ctx.Response.StatusCode() == fasthttp.StatusOK {
		ctx.Response.SetBody(addCatalogRoutes(ctx.Response.Body(), rt.router.routes))
	}
	return nil
}

// stageError keeps a stage's own refusal and turns any other failure into a 503: a stage
// that could not do its work refuses the exchange rather than wave it through.
func stageError(stage Stage, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Errorf(fasthttp.StatusServiceUnavailable, stage.String()+"_unavailable", "the %s stage failed; the exchange was refused", stage).WithCause(err)
}

// finish audits the exchange, attaches the receipt and counts it. If the record cannot be
// made durable, the response is replaced by a 503: nothing leaves without its record.
func (g *Gateway) finish(ctx *fasthttp.RequestCtx, x *Exchange, rt *runtime) {
	if g.stages.Audit != nil {
		t := time.Now()
		receipt, err := g.audit(ctx, x)
		g.stageDone(StageAudit, t)
		if err != nil {
			g.log.Error("audit record not written; exchange refused", "request_id", string(x.ID), "error", err)
			x.Err = Errorf(fasthttp.StatusServiceUnavailable, "audit_unavailable", "the audit record could not be written; the exchange was refused").WithCause(err)
			writeError(&ctx.Response, x.Err, x.ID)
		} else {
			x.receipt = receipt // the room, grown if it had to be, for the exchange's next use
			if len(receipt) > 0 {
				ctx.Response.Header.SetBytesV(HeaderReceipt, receipt)
			}
		}
	}
	ctx.Response.Header.SetBytesV(wire.HeaderRequestID, x.ID)
	m := rt.unrouted
	if x.entry != nil {
		m = x.entry.metrics
	}
	m.inc(ctx.Response.StatusCode(), decisionIndex(x))
}

func decisionIndex(x *Exchange) int {
	switch {
	case !x.Decision.Evaluated:
		return decisionNone
	case x.Decision.Allow:
		return decisionAllow
	default:
		return decisionDeny
	}
}

// handleReadError answers requests fasthttp could not read (too large, malformed) with the
// same JSON errors as the pipeline, and audits them like any other refusal.
func (g *Gateway) handleReadError(rl *runningListener, ctx *fasthttp.RequestCtx, err error) {
	var e *Error
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		e = Errorf(fasthttp.StatusRequestEntityTooLarge, "body_too_large", "the request body exceeds this route's limit")
	case errors.As(err, &small):
		e = Errorf(fasthttp.StatusRequestHeaderFieldsTooLarge, "headers_too_large", "the request headers exceed %d bytes", rl.limits.MaxHeaderBytes)
	case isTimeout(err):
		e = Errorf(fasthttp.StatusRequestTimeout, "request_timeout", "the request was not received in time")
	default:
		e = Errorf(fasthttp.StatusBadRequest, "bad_request", "the request could not be parsed")
	}
	rt := g.rt.Load()
	x := g.startExchange(rl)
	defer g.exchanges.put(x)
	if p := RawPath(ctx.Request.Header.RequestURI()); p != nil {
		if en := rt.router.match(ctx.Request.Header.Host(), p); en != nil {
			x.Route, x.entry = &en.Route, en
		}
	}
	x.Err = e.WithCause(err)
	writeError(&ctx.Response, e, x.ID)
	ctx.SetConnectionClose()
	g.finish(ctx, x, rt)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
