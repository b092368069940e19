package gateway

import (
	"errors"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/wire"
)

// RowCutter is what a StreamReleaser cuts a tabular body with, row by row, in a fixed
// window (policy.RowCutter has this method). Cut appends the released form of every
// complete row at the start of src to dst and returns it, the bytes of src it consumed and
// the rows it released; final says src ends the body. Its error refuses the rest of the
// transfer: an *Error, or any other error, which cuts it as release_refused.
type RowCutter interface {
	Cut(dst, src []byte, final bool) (out []byte, used, rows int, err error)
}

// StreamReleaser is the release stage for streamed transfers (routes in exchange and
// publish mode). ReleaseStream runs once the provider's head has arrived and before any
// byte of its body leaves: it checks the label, sets the released label on ctx.Response,
// and returns the cutter every byte of the body passes through, or nil to pass the body
// whole (an opaque resource). An error refuses the exchange as Release's does.
type StreamReleaser interface {
	ReleaseStream(ctx *fasthttp.RequestCtx, x *Exchange) (RowCutter, error)
}

// Transfer is what a streamed body carried, filled in as it ends, for the audit stage: a
// streamed exchange's record is written when its transfer ends, not before its response
// leaves. Exchange.Transfer is nil for a buffered exchange.
type Transfer struct {
	Outcome        string // TransferCompleted, TransferCut or TransferAborted
	Sent, Received int64  // bytes sent to the consumer, read from the provider
	Rows           int64  // data rows released
	SentDigest     string // hex SM3 of the bytes sent
	ReceivedDigest string // hex SM3 of the bytes read from the provider
	RequestDigest  string // hex SM3 of the consumer's body
	RequestBytes   int64
	// WholeDigest is the hex SM3 of the whole representation the gateway stated
	// (streamdigest.go); empty when it stated none.
	WholeDigest string
	// PrefixRead counts the bytes the gateway read from the provider before a range, to
	// state WholeDigest (streamdigest.go), whether or not it then stated one; never sent
	// to the consumer.
	PrefixRead int64
}

// The outcomes of a transfer, as audit.Transfer records them.
const (
	TransferCompleted = "completed"
	TransferCut       = "cut"
	TransferAborted   = "aborted"
)

// streamed reports whether the exchange goes out as a stream: on an exchange or publish
// route, a request whose answer can have a body. HEAD is answered buffered: it has none.
func streamed(ctx *fasthttp.RequestCtx, e *routeEntry) bool {
	return e.Mode.Streams() && !ctx.IsHead()
}

// forwardStream sends the request to a member of the pool and returns once the provider's
// head has arrived, its body still unread in up (nil when the answer has no body: it is
// then in ctx.Response, for the buffered release).
func (g *Gateway) forwardStream(ctx *fasthttp.RequestCtx, x *Exchange, e *routeEntry) (*fasthttp.Response, *Error) {
	m := e.pool.pick(time.Now().UnixNano())
	if m == nil {
		return nil, Errorf(fasthttp.StatusServiceUnavailable, "no_healthy_upstream", "no member of pool %s is healthy", e.Pool)
	}
	x.Upstream = m.addr
	for _, kv := range e.pool.headers {
		ctx.Request.Header.SetBytesKV(kv[0], kv[1])
	}
	setUpstreamTarget(&ctx.Request, m)
	if err := checkForwardable(&ctx.Request); err != nil {
		return nil, err
	}
	up := fasthttp.AcquireResponse()
	up.StreamBody = true
	m.inFlight.Add(1)
	// The whole transfer, body included, is bounded by transfer_timeout: fasthttp sets
	// one read deadline on the connection for the head and the streamed body.
	_, timeout := e.transferLimits()
	err := m.client.DoTimeout(&ctx.Request, up, timeout)
	m.inFlight.Add(-1)
	if err != nil {
		fasthttp.ReleaseResponse(up)
		ue, providerFault := upstreamError(err, e)
		if x.Upload.midBody() && providerClosed(err) {
			// The provider closed while the consumer's body was still going to it: an early
			// answer (a 413, a 403 from the head) that fasthttp, writing the whole request
			// before it reads, cannot read. A consumer must not eject a provider by sending
			// what the provider refuses.
			ue, providerFault = errUploadClosedEarly(err), false
		}
		if providerFault && uploadCut(x) == nil { // a consumer's cut upload is not the provider's failure
			e.pool.observe(m, true)
		}
		return nil, ue
	}
	e.pool.observe(m, false)
	x.partial, x.span = partialResponse(&up.Header)
	x.whole = captureWhole(&up.Header)
	stripResponseHeaders(&up.Header, x)
	if bodiless(up.StatusCode()) {
		up.Header.CopyTo(&ctx.Response.Header)
		closeUpstream(up, nil)
		return nil, nil
	}
	copyStreamHead(&ctx.Response.Header, &up.Header)
	return up, nil
}

func bodiless(status int) bool {
	return status < 200 || status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified
}

// copyStreamHead gives the consumer the provider's status and released fields; the body is
// framed anew (chunked, with the gateway's trailers), so no framing field is copied.
func copyStreamHead(dst, src *fasthttp.ResponseHeader) {
	dst.SetStatusCode(src.StatusCode())
	dst.SetContentTypeBytes(src.ContentType())
	for k, v := range src.All() {
		switch {
		case headerIs(k, fasthttp.HeaderContentLength), headerIs(k, fasthttp.HeaderTransferEncoding),
			headerIs(k, fasthttp.HeaderTrailer), headerIs(k, fasthttp.HeaderConnection), headerIs(k, fasthttp.HeaderContentType):
			continue
		}
		dst.AddBytesKV(k, v)
	}
}

func headerIs(k []byte, name string) bool { return len(k) == len(name) && asciiEqualFold(k, name) }

func asciiEqualFold(b []byte, s string) bool {
	for i := range b {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// closeUpstream gives the provider's connection back (or closes it, when its body was not
// read to the end) and the response to its pool.
func closeUpstream(up *fasthttp.Response, cause error) {
	if rc, ok := up.BodyStream().(fasthttp.ReadCloserWithError); ok && cause != nil {
		rc.CloseWithError(cause)
	}
	up.CloseBodyStream()
	fasthttp.ReleaseResponse(up)
}

// releaseStream passes the provider's head through the release stage and, when it may be
// released, sets the response's body to the stream that cuts, digests and counts the body
// as it goes. The first window is cut here, before the head leaves, so that a body that
// cannot be cut from its first row (an unknown column, a malformed header) is an ordinary
// refusal rather than a cut transfer.
func (g *Gateway) releaseStream(ctx *fasthttp.RequestCtx, x *Exchange, rt *runtime, up *fasthttp.Response) *Error {
	defer closeUpstreamOnPanic(up)
	var cutter RowCutter
	if g.stages.Release != nil {
		sr, ok := g.stages.Release.(StreamReleaser)
		if !ok {
			closeUpstream(up, errStreamRefused)
			return stageError(StageRelease, errors.New("the release stage cannot release streamed bodies"))
		}
		var err error
		if cutter, err = sr.ReleaseStream(ctx, x); err != nil {
			closeUpstream(up, errStreamRefused)
			return stageError(StageRelease, err)
		}
	}
	if err := checkPartial(ctx, x, false); err != nil {
		closeUpstream(up, errStreamRefused)
		return err
	}
	s := newStreamBody(g, rt, ctx, x, up, cutter)
	s.whole = g.startWhole(ctx, x, s.win)
	if err := s.prime(); err != nil {
		s.releaseUpstream(err)
		return err
	}
	x.Transfer = newTransfer(ctx, x)
	h := &ctx.Response.Header
	for _, name := range streamTrailers {
		if err := h.AddTrailer(name); err != nil {
			s.releaseUpstream(err)
			return stageError(StageRelease, err)
		}
	}
	if s.whole != nil {
		if err := h.AddTrailer(wire.HeaderWholeDigest); err != nil {
			s.releaseUpstream(err)
			return stageError(StageRelease, err)
		}
	}
	h.SetBytesV(wire.HeaderRequestID, x.ID)
	// The head goes out before the first body byte is read, so that every later read finds
	// fasthttp's buffer empty: a cut writes its trailer to the connection itself (cut).
	ctx.Response.ImmediateHeaderFlush = true
	ctx.Response.SetBodyStream(s, -1)
	return nil
}

// streamTrailers are announced in Trailer on every streamed response.
var streamTrailers = [...]string{wire.HeaderReceipt, wire.HeaderDigest, wire.HeaderRows, wire.HeaderBytes, wire.HeaderTransferError}

var errStreamRefused = errors.New("govgate: the transfer was refused")
