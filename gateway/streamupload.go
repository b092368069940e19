package gateway

import (
	"encoding/hex"
	"hash"
	"io"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto"
)

// Streamed request bodies (uploads) on exchange and publish routes. The consumer's body
// passes to the provider through one fixed window (UploadWindow) per exchange, counted
// against the route's max_request_bytes and digested with SM3 as it goes. The last byte
// read is always held back until the body has ended and been checked — its length against
// Content-Length, its digest against a signed Content-Digest, no request trailers — so that
// a body the gateway refuses at its end never reaches the provider whole: the upstream
// request is then abandoned before its last byte (Content-Length framing) or its last
// chunk (chunked), and the provider's connection is closed under it.
const (
	// UploadWindow is the consumer's bytes one upload holds at once.
	UploadWindow = 64 << 10
	// DefaultMaxUploadBytes bounds one streamed request body (routes[].max_request_bytes
	// on an exchange or publish route): 8 GiB.
	DefaultMaxUploadBytes = 8 << 30
)

// Upload is what a streamed request body carried, filled in as it is read. Exchange.Upload
// is nil when the request's body was buffered (query routes, bodiless requests).
type Upload struct {
	// Declared is the SM3 digest a verified signature's Content-Digest declared (set by the
	// authenticate stage, before anything is forwarded); nil for an unsigned request, whose
	// body is then digested but checked against nothing.
	Declared []byte
	Bytes    int64  // bytes read from the consumer
	Digest   string // hex SM3 of those bytes, set once the body has ended
	Complete bool   // the body ended as declared and passed its checks

	body *uploadBody
}

// uploadBody is the request body the upstream client reads: the consumer's stream, through
// the window, the count and the digest.
type uploadBody struct {
	u        *Upload
	ctx      *fasthttp.RequestCtx
	src      io.Reader
	declared int64 // Content-Length, -1 when chunked
	limit    int64
	stall    time.Duration // the longest wait for the consumer's next bytes

	buf        []byte // buf[start:end] read from the consumer and not yet handed on
	start, end int
	hash       hash.Hash
	eof        bool   // the body ended and passed its checks: the held byte may go
	asked      bool   // the upstream writer has asked for the body
	err        *Error // why the upload was cut; what every later Read returns
}

// streamsUpload reports whether the request's body is to stream rather than be buffered:
// fasthttp left it as a stream, it has (or may have) a body, and it is bound for a route
// that streams.
func streamsUpload(ctx *fasthttp.RequestCtx, e *routeEntry) bool {
	return e != nil && e.Mode.Streams() && !ctx.IsHead() && ctx.Request.IsBodyStream() &&
		ctx.Request.Header.ContentLength() != 0
}

// prepareRequestBody runs before the pipeline, when fasthttp streams request bodies
// (Server.StreamRequestBody, on when any route streams): a body bound for a streaming
// route is left as a stream (x.Upload); every other body is read here, whole, bounded by
// its route's max_body_bytes exactly as fasthttp bounds it when it buffers, so that every
// stage that reads Request.Body() finds it as before.
func (g *Gateway) prepareRequestBody(ctx *fasthttp.RequestCtx, x *Exchange, rt *runtime) *Error {
	if !ctx.Request.IsBodyStream() {
		return nil
	}
	h := &ctx.Request.Header
	e := rt.router.match(h.Host(), RawPath(h.RequestURI()))
	typed := false
	if streamsUpload(ctx, e) {
		if typed = scannedBody(h.ContentType()); !typed {
			x.Upload = &Upload{}
			return nil
		}
	}
	limit := DefaultMaxBodyBytes
	if e != nil && e.MaxBodyBytes > 0 {
		limit = e.MaxBodyBytes
	}
	err := g.bufferRequestBody(ctx, x, limit)
	if err != nil && typed && err.Code == "body_too_large" {
		return errTypedBodyTooLarge(limit)
	}
	return err
}

// scannedBody reports whether a body of this Content-Type is one frameworks read
// method-override parameters from (a form, multipart, JSON, or none stated): on an
// exchange or publish route such a body — search criteria, a small JSON document — is
// read whole, bounded by the route's max_body_bytes, and scanned as a query route's is
// (methodparams.go) before anything is forwarded; it cannot be scanned once it streams.
// Every other body (a dataset: CSV, NDJSON, an opaque type) streams.
func scannedBody(ct []byte) bool {
	form, scan := bodyKind(ct)
	return form || scan
}

func errTypedBodyTooLarge(limit int) *Error {
	return Errorf(fasthttp.StatusRequestEntityTooLarge, "body_too_large", "a form, multipart or JSON request body (or one without a Content-Type) is read whole and checked before it is forwarded, and this one exceeds the route's max_body_bytes (%d); send a dataset as text/csv, application/x-ndjson or an opaque type, which streams", limit)
}

// bufferRequestBody reads a streamed body whole into the exchange's buffer, at most limit
// bytes; a longer one is refused (413 body_too_large) as fasthttp refuses it when it
// buffers, and the connection closes since the rest of the body is unread.
func (g *Gateway) bufferRequestBody(ctx *fasthttp.RequestCtx, x *Exchange, limit int) *Error {
	if cl := ctx.Request.Header.ContentLength(); cl > limit {
		ctx.SetConnectionClose()
		return errBodyTooLarge()
	}
	src := ctx.RequestBodyStream()
	buf := x.body[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		room := buf[len(buf):cap(buf)]
		if over := limit + 1 - len(buf); len(room) > over {
			room = room[:over]
		}
		n, err := src.Read(room)
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			ctx.SetConnectionClose()
			return errBodyTooLarge()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			ctx.SetConnectionClose()
			return requestReadError(err)
		}
	}
	x.body = buf
	if len(buf) == 0 && ctx.Request.Header.ContentLength() == -1 {
		ctx.Request.Header.SetContentLength(0) // as fasthttp leaves an empty chunked body
	}
	// SetBodyRaw keeps the stream's framing out of the request: Body() is the buffer.
	cl := ctx.Request.Header.ContentLength()
	ctx.Request.SetBodyRaw(buf)
	ctx.Request.Header.SetContentLength(cl)
	return nil
}

func errBodyTooLarge() *Error {
	return Errorf(fasthttp.StatusRequestEntityTooLarge, "body_too_large", "the request body exceeds this route's limit")
}

// requestReadError is the answer to a body that could not be read: too slow (the read
// timeout) or broken off / malformed, as handleReadError answers them.
func requestReadError(err error) *Error {
	if isTimeout(err) {
		return Errorf(fasthttp.StatusRequestTimeout, "request_timeout", "the request was not received in time").WithCause(err)
	}
	return Errorf(fasthttp.StatusBadRequest, "bad_request", "the request body could not be read").WithCause(err)
}

// startUpload gives the upstream request the consumer's body as a stream. Called once the
// exchange is allowed and a member chosen, so that nothing of the body is read before.
func (g *Gateway) startUpload(ctx *fasthttp.RequestCtx, x *Exchange, rt *runtime, e *routeEntry) {
	u := x.Upload
	b := &uploadBody{
		u: u, ctx: ctx, src: ctx.RequestBodyStream(), declared: int64(ctx.Request.Header.ContentLength()),
		limit: e.uploadLimit(), stall: rt.cfg.Limits.ReadTimeout,
		buf: make([]byte, UploadWindow), hash: crypto.NewSM3(),
	}
	u.body = b
	// A request trailer would be written after the last chunk, past every header check
	// (refuseRequestTrailers): none is forwarded, and one that arrives cuts the upload.
	ctx.Request.Header.Del(fasthttp.HeaderTrailer)
	ctx.Request.SetBodyStream(b, int(b.declared))
}

// uploadLimit is the route's max_request_bytes, or its default.
func (r *Route) uploadLimit() int64 {
	if r.MaxRequestBytes > 0 {
		return r.MaxRequestBytes
	}
	return DefaultMaxUploadBytes
}

// Read implements io.Reader for the upstream client's request writer.
func (b *uploadBody) Read(p []byte) (int, error) {
	b.asked = true
	for {
		if b.err != nil {
			return 0, b.err
		}
		avail := b.end - b.start
		if !b.eof {
			avail-- // held back until the body's end is checked
		}
		if avail > 0 {
			n := copy(p, b.buf[b.start:b.start+avail])
			b.start += n
			return n, nil
		}
		if b.eof {
			return 0, io.EOF
		}
		if err := b.fill(); err != nil {
			b.err = err
			// The record names the digest of what did arrive.
			b.u.Digest = hex.EncodeToString(b.hash.Sum(nil))
			return 0, err
		}
	}
}

// fill reads the consumer's next bytes into the window, checking them as they come.
func (b *uploadBody) fill() *Error {
	if b.start > 0 {
		b.end = copy(b.buf, b.buf[b.start:b.end])
		b.start = 0
	}
	if b.stall > 0 {
		// The server's read deadline was set for the head: each wait for the consumer's
		// bytes is bounded on its own, so a long upload is not, a stalled one is.
		b.ctx.SetReadDeadline(time.Now().Add(b.stall))
	}
	n, err := b.src.Read(b.buf[b.end:])
	b.hash.Write(b.buf[b.end : b.end+n])
	b.end += n
	b.u.Bytes += int64(n)
	if b.u.Bytes > b.limit {
		return errUploadTooLarge(b.limit)
	}
	switch {
	case err == io.EOF:
		return b.finish()
	case err != nil && isTimeout(err):
		return Errorf(fasthttp.StatusRequestTimeout, "upload_timeout", "the consumer sent nothing of its body for %s", b.stall).WithCause(err)
	case err != nil:
		return Errorf(fasthttp.StatusBadRequest, "upload_aborted", "the consumer's body broke off before its end").WithCause(err)
	}
	return nil
}

// finish checks the body that has just ended, before its held-back byte may go.
func (b *uploadBody) finish() *Error {
	b.u.Digest = hex.EncodeToString(b.hash.Sum(nil))
	if b.declared >= 0 && b.u.Bytes < b.declared {
		// fasthttp's request stream ends quietly when the connection closes short of
		// Content-Length: the count is what tells.
		return Errorf(fasthttp.StatusBadRequest, "upload_aborted", "the consumer's body ended after %d of the %d bytes its Content-Length declared", b.u.Bytes, b.declared)
	}
	for range b.ctx.Request.Header.Trailers() {
		return Errorf(fasthttp.StatusBadRequest, "trailers_refused", "request trailer fields are not forwarded; send every field in the header")
	}
	if b.u.Declared != nil {
		sum, _ := hex.DecodeString(b.u.Digest)
		if crypto.CheckBodyDigest(b.u.Declared, sum) != nil {
			return Errorf(fasthttp.StatusBadRequest, "content_digest_mismatch", "the body does not match the Content-Digest its signature covers; it was not delivered whole")
		}
	}
	b.eof = true
	b.u.Complete = true
	return nil
}

func errUploadTooLarge(limit int64) *Error {
	return Errorf(fasthttp.StatusRequestEntityTooLarge, "upload_too_large", "the request body exceeds this route's max_request_bytes (%d)", limit)
}

// uploadCut is the upload's own refusal when the upstream request failed because the
// consumer's body was cut (too large, digest, short, stalled, gone): the failure is the
// consumer's, not the provider's. nil when the upload is not the cause.
func uploadCut(x *Exchange) *Error {
	if x.Upload == nil || x.Upload.body == nil {
		return nil
	}
	return x.Upload.body.err
}

// endUpload closes the consumer's connection after an upload that did not end whole: the
// rest of its body is unread, and is not a next request.
// The record names the digest of what arrived, whoever ended the upload.
func endUpload(ctx *fasthttp.RequestCtx, x *Exchange) {
	u := x.Upload
	if u == nil || u.Complete {
		return
	}
	ctx.SetConnectionClose()
	if u.body != nil && u.Digest == "" {
		u.Digest = hex.EncodeToString(u.body.hash.Sum(nil))
	}
}

// validateUploadLimit checks routes[].max_request_bytes.
func validateUploadLimit(r Route, f string, add addFunc) {
	if r.MaxRequestBytes < 0 {
		add(f+".max_request_bytes", "must not be negative")
	}
	if !r.Mode.Streams() && r.MaxRequestBytes != 0 {
		add(f+".max_request_bytes", "bounds streamed request bodies, of exchange and publish routes; a query route's bodies are bounded by max_body_bytes")
	}
}

// checkUpload refuses, before anything is forwarded, an upload whose Content-Length is
// already over the route's limit, or whose signature was verified without its declared
// digest being kept to check the body against; then it hands the stream to the upstream
// request.
func (g *Gateway) checkUpload(ctx *fasthttp.RequestCtx, x *Exchange, rt *runtime, e *routeEntry) *Error {
	if x.Upload == nil {
		return nil
	}
	if limit := e.uploadLimit(); int64(ctx.Request.Header.ContentLength()) > limit {
		return errUploadTooLarge(limit)
	}
	if x.Identity.Signed && x.Upload.Declared == nil {
		return Errorf(fasthttp.StatusServiceUnavailable, "authenticate_unavailable", "the signature's Content-Digest was not kept to check the streamed body against; the exchange was refused")
	}
	g.startUpload(ctx, x, rt, e)
	return nil
}

// midBody reports whether the upstream request failed while the consumer's body was
// going to the provider: asked for, and neither ended whole nor cut by the gateway.
func (u *Upload) midBody() bool {
	return u != nil && u.body != nil && u.body.asked && !u.Complete && u.body.err == nil
}

// errUploadClosedEarly is the answer when the provider closed its connection while the
// body was still being sent to it: most often an early refusal (413, 403) that the
// gateway could not read, since it reads the answer once the request is written.
func errUploadClosedEarly(err error) *Error {
	return Errorf(fasthttp.StatusBadGateway, "upstream_closed_upload", "the provider closed the connection while the request body was being sent to it (it may have refused the body early, e.g. as too large); its answer could not be read").WithCause(err)
}

// Started reports whether any of the body was asked for: the upstream request was given it.
func (u *Upload) Started() bool { return u != nil && u.body != nil }

// Outcome is the upload's account for the record: completed when the body ended whole
// and the exchange did not fail, aborted when the consumer broke it off, cut otherwise.
func (u *Upload) Outcome(x *Exchange) string {
	switch {
	case u.Complete && x.Err == nil:
		return TransferCompleted
	case !u.Complete && x.Err != nil && x.Err.Code == "upload_aborted":
		return TransferAborted
	default:
		return TransferCut
	}
}

// newTransfer starts the account of a streamed response, with what the consumer sent.
func newTransfer(ctx *fasthttp.RequestCtx, x *Exchange) *Transfer {
	if u := x.Upload; u != nil {
		return &Transfer{RequestDigest: u.Digest, RequestBytes: u.Bytes}
	}
	body := ctx.Request.Body()
	digest := crypto.SM3(body)
	return &Transfer{RequestDigest: hex.EncodeToString(digest[:]), RequestBytes: int64(len(body))}
}

// RequestBytes is the size of the consumer's body: what was read of a streamed one, never
// Request.Body(), which would read the rest of the stream.
func RequestBytes(ctx *fasthttp.RequestCtx, x *Exchange) int64 {
	if x.Upload != nil {
		return x.Upload.Bytes
	}
	return int64(len(ctx.Request.Body()))
}
