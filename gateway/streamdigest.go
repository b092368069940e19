package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/wire"
)

// The whole representation's digest, stated by the gateway (wire.HeaderWholeDigest).
//
// A download resumed with Range (govgate call --continue-at -) is a file made of parts
// received in several exchanges; each part's X-Govgate-Digest covers that part only. The
// consumer can check the whole file only against a digest of the whole: the provider's
// Repr-Digest when it states one, otherwise the gateway's. On a range bytes=N- of an opaque
// resource whose provider states no Repr-Digest, the gateway reads bytes 0..N-1 itself
// from the same member, with If-Range: the range's strong ETag (a representation that
// changed in between answers 200, and no digest is stated), hashes them, continues the
// hash over the range as it streams it, and states the whole SM3 in a trailer once the
// range ended at the size its Content-Range gave. On a 416 (asked past the end: the
// consumer may hold the whole file) the prefix is the whole file. On a 200 of an opaque resource the
// body is the whole, and its SM3 is stated as is. The digest goes into the exchange's
// audit record too (transfer.whole_digest), so what the gateway stated is on the record
// under its signed checkpoints, not only in a trailer.
//
// The cost is the prefix read from the provider again (never sent to the consumer): up to
// a whole download's bytes for a resume near the end. routes[].resume_digest: off turns
// it off. The gateway does not measure a prefix when the provider states a Repr-Digest
// (the consumer checks that); on a 200, where it measures for free, a Repr-Digest that
// disagrees with the body is a provider lying about its representation, and the transfer
// is cut (REPR_DIGEST_MISMATCH) and recorded. Never on a resource released by fields: the
// SM3 of the provider's whole document would let a consumer confirm guesses of the fields
// withheld from it.

// ResumeDigest is routes[].resume_digest.
type ResumeDigest string

const (
	ResumeDigestPrefix ResumeDigest = "prefix"
	ResumeDigestOff    ResumeDigest = "off"
)

// providerWhole is what the provider's head said about its whole representation, taken
// before the response allowlist removes fields the route does not release.
type providerWhole struct {
	status int
	// repr is the provider's Repr-Digest sm3 member, decoded; reprBad: sent but not one
	// well-formed field.
	repr    []byte
	reprBad bool
	// A single byte Content-Range: first-last/total, or */total (unsatisfied: a 416).
	ranged, unsatisfied bool
	first, last, total  int64
	// etag is the one strong ETag, nil when there is none, several or a weak one.
	etag []byte
}

// captureWhole reads h (names in any case: the upstream client keeps them as received).
func captureWhole(h *fasthttp.ResponseHeader) providerWhole {
	w := providerWhole{status: h.StatusCode()}
	var reprs, ranges, etags int
	var cr []byte
	for k, v := range h.All() {
		switch {
		case equalFold(k, wire.HeaderReprDigest):
			reprs++
			w.repr = sm3Member(v)
		case equalFold(k, fasthttp.HeaderContentRange):
			ranges++
			cr = v
		case equalFold(k, fasthttp.HeaderETag):
			etags++
			w.etag = append(w.etag[:0], v...)
		}
	}
	if reprs > 1 || (reprs == 1 && w.repr == nil) {
		w.repr, w.reprBad = nil, true
	}
	if ranges == 1 {
		w.first, w.last, w.total, w.ranged = byteRange(cr)
		if t, ok := bytes.CutPrefix(cr, []byte("bytes */")); ok {
			n, err := strconv.ParseInt(string(t), 10, 64)
			w.total, w.unsatisfied = n, err == nil && n > 0
		}
	}
	if etags != 1 || bytes.HasPrefix(w.etag, []byte("W/")) {
		w.etag = nil
	} else if _, _, rest, ok := nextETag(w.etag); !ok || len(rest) != 0 {
		w.etag = nil
	}
	return w
}

// sm3Member is the sm3 member of a Repr-Digest (RFC 9530: sm3=:<base64>:), or nil.
func sm3Member(v []byte) []byte {
	for _, m := range bytes.Split(v, []byte(",")) {
		k, val, ok := bytes.Cut(bytes.TrimSpace(m), []byte("="))
		if !ok || !equalFold(k, "sm3") || len(val) < 2 || val[0] != ':' || val[len(val)-1] != ':' {
			continue
		}
		d, err := base64.StdEncoding.DecodeString(string(val[1 : len(val)-1]))
		if err != nil || len(d) != 32 {
			return nil
		}
		return d
	}
	return nil
}

// byteRange reads "bytes first-last/total" with a known total (contentRange).
func byteRange(v []byte) (first, last, total int64, ok bool) {
	first, last, total, ok = contentRange(v)
	if !ok || total < 0 {
		return 0, 0, 0, false
	}
	return first, last, total, true
}

func errRangeSize(span, received int64) *Error {
	return ReleaseRefusal(false, Reason{Code: "RANGE_SIZE_MISMATCH", Message: fmt.Sprintf("the provider's 206 announced %d bytes in its Content-Range and sent at least %d", span, received)})
}

// MarkReleasedWhole is called by a release stage that passes the provider's body whole
// (an opaque resource): only then may the gateway state the whole representation's digest.
func (x *Exchange) MarkReleasedWhole() { x.releasedWhole = true }

// wholeMeter is a transfer's measurement of the whole representation.
type wholeMeter struct {
	h      hash.Hash // the prefix's SM3, continued over the body; nil: the body's own (a 200)
	body   bool      // the body continues h (a 206; not a 416's body)
	prefix int64     // bytes before the range, read by the gateway
	total  int64     // the representation's size from Content-Range; -1 on a 200
	repr   []byte    // the provider's Repr-Digest, to agree with
}

// startWhole decides whether the gateway states the whole digest of this transfer and,
// for a range, reads the prefix. It returns nil when it states none; a prefix it could not
// read (the representation changed, the provider refused, a read failed) is logged, and
// the transfer goes on without a whole digest: the consumer's check then fails closed.
func (g *Gateway) startWhole(ctx *fasthttp.RequestCtx, x *Exchange, buf []byte) *wholeMeter {
	w := &x.whole
	if !x.releasedWhole || w.reprBad {
		return nil
	}
	limit, _ := x.entry.transferLimits()
	switch {
	case w.status == fasthttp.StatusOK:
		return &wholeMeter{total: -1, repr: w.repr}
	case w.repr != nil || x.entry.ResumeDigest == ResumeDigestOff || w.etag == nil || !ctx.IsGet():
		// The prefix is asked with GET: the range of another method's answer is not
		// known to be a range of the same representation.
		return nil
	case w.status == fasthttp.StatusPartialContent && w.ranged && w.last == w.total-1 && w.first > 0 && w.first <= limit:
	case w.status == fasthttp.StatusRequestedRangeNotSatisfiable && w.unsatisfied && w.total <= limit:
		// Asked past the end: the consumer may hold the whole file already; the prefix is
		// all of it, and the 416's own body is no part of it.
		w.first = w.total
	default:
		return nil
	}
	h, err := g.readPrefix(ctx, x, w, buf)
	if err != nil {
		g.log.Warn("the prefix of a range could not be read; no whole digest stated", "request_id", string(x.ID), "error", err)
		return nil
	}
	wm := &wholeMeter{h: h, prefix: w.first, total: w.total, body: w.status == fasthttp.StatusPartialContent}
	return wm
}

// prefixDropped are the request fields the prefix request does not carry: the consumer's
// range and conditions (it asks its own), and the consumer's signature over a request it
// did not send (a provider checking signatures refuses the prefix; no digest is stated).
var prefixDropped = [...]string{fasthttp.HeaderRange, fasthttp.HeaderIfRange, fasthttp.HeaderIfNoneMatch, fasthttp.HeaderIfModifiedSince,
	fasthttp.HeaderIfMatch, fasthttp.HeaderIfUnmodifiedSince, wire.HeaderSignature, wire.HeaderSignatureInput, wire.HeaderContentDigest}

// readPrefix reads bytes 0..first-1 of the representation w describes from the member
// that served the range, and returns their SM3.
func (g *Gateway) readPrefix(ctx *fasthttp.RequestCtx, x *Exchange, w *providerWhole, buf []byte) (hash.Hash, error) {
	m := x.entry.pool.member(x.Upstream)
	if m == nil {
		return nil, fmt.Errorf("member %s left the pool", x.Upstream)
	}
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	ctx.Request.Header.CopyTo(&req.Header)
	for _, name := range prefixDropped {
		req.Header.Del(name)
	}
	req.Header.SetMethod(fasthttp.MethodGet)
	req.Header.SetContentLength(0)
	req.Header.Set(fasthttp.HeaderRange, "bytes=0-"+strconv.FormatInt(w.first-1, 10))
	req.Header.SetBytesV(fasthttp.HeaderIfRange, w.etag)
	resp := fasthttp.AcquireResponse()
	resp.StreamBody = true
	_, timeout := x.entry.transferLimits()
	m.inFlight.Add(1)
	err := m.client.DoTimeout(req, resp, timeout)
	m.inFlight.Add(-1)
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		return nil, fmt.Errorf("read the prefix: %w", err)
	}
	h, n, err := hashPrefix(resp, w, buf)
	x.prefixRead += n
	closeUpstream(resp, err)
	return h, err
}

// hashPrefix checks that resp is the asked prefix of the same representation and hashes
// exactly its bytes; read counts the bytes read, whatever the outcome.
func hashPrefix(resp *fasthttp.Response, w *providerWhole, buf []byte) (h hash.Hash, read int64, err error) {
	p := captureWhole(&resp.Header)
	switch {
	case p.status != fasthttp.StatusPartialContent:
		return nil, 0, fmt.Errorf("the prefix was answered %d (the representation changed, or the provider ignores If-Range)", p.status)
	case !p.ranged || p.first != 0 || p.last != w.first-1 || p.total != w.total:
		return nil, 0, fmt.Errorf("the prefix's Content-Range is not bytes 0-%d/%d", w.first-1, w.total)
	case !bytes.Equal(p.etag, w.etag):
		return nil, 0, fmt.Errorf("the prefix's ETag %q is not the range's %q", p.etag, w.etag)
	}
	h = crypto.NewSM3()
	src := resp.BodyStream()
	if src == nil {
		return nil, 0, fmt.Errorf("the prefix has no body")
	}
	n, err := io.CopyBuffer(h, io.LimitReader(src, w.first+1), buf)
	if err != nil {
		return nil, n, fmt.Errorf("read the prefix: %w", err)
	}
	if n != w.first {
		return nil, n, fmt.Errorf("the prefix is %d bytes, not %d", n, w.first)
	}
	return h, n, nil
}

// member is the pool's member at addr, nil when there is none.
func (p *pool) member(addr string) *member {
	for _, m := range p.members {
		if m.addr == addr {
			return m
		}
	}
	return nil
}

// end checks the measurement when the provider's body ended after received bytes whose
// SM3 is recvSum, and returns the whole's hex SM3, or the refusal that cuts the transfer.
func (wm *wholeMeter) end(received int64, recvSum []byte) (string, *Error) {
	sum := recvSum
	if wm.h != nil {
		if !wm.body {
			received = 0
		}
		if wm.prefix+received != wm.total {
			return "", ReleaseRefusal(false, Reason{Code: "RANGE_SIZE_MISMATCH", Message: fmt.Sprintf("the provider's range ended at byte %d of a representation its Content-Range said has %d", wm.prefix+received, wm.total)})
		}
		sum = wm.h.Sum(nil)
	}
	if wm.repr != nil && !bytes.Equal(wm.repr, sum) {
		return "", ReleaseRefusal(false, Reason{Code: "REPR_DIGEST_MISMATCH", Message: "the provider's Repr-Digest is not the SM3 of the representation it sent"})
	}
	return hex.EncodeToString(sum), nil
}

// ProviderETag is the provider's one strong ETag on a streamed answer, as it sent it
// (before the gateway states its own for a cut), nil when it sent none, several or a
// weak one. The record stage compares it with the catalog's version of a published dataset.
func (x *Exchange) ProviderETag() []byte { return x.whole.etag }
