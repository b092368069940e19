package gateway

import (
	"bytes"
	"math"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/wire"
)

// Range requests on resources the release stage filters. The field cut is defined on the
// top-level members of the whole document; a byte range of it is another document (a
// nested object becomes the top level, a cut string or number another value), which the
// cut would read as the whole. So on a filtered resource the consumer's Range and If-Range
// never reach the provider (DropRangeRequest, from the decide stage once the decision says
// the resource is filtered), and a provider answering with a part anyway — 206, or any
// Content-Range — is refused at release (RESPONSE_PARTIAL). Opaque resources, released
// whole, keep Range.
//
// The validators go the same way. A provider's ETag and Last-Modified describe the whole
// document, and If-None-Match or If-Modified-Since against them answers 304 or 200 by
// whether any field changed — withheld fields included: a consumer could watch a field no
// agreement grants it. So on a filtered resource the consumer's If-None-Match and
// If-Modified-Since are removed with Range, and the release stage removes ETag and
// Last-Modified from the response. If-Match and If-Unmodified-Since go too on a read
// (GET, HEAD), where they are the same oracle answered 412 or 200; on a write they guard
// the write and stay, since removing them would make a conditional write unconditional.

// unfilteredRequestFields are the request fields that ask the provider about its whole
// document rather than the filtered one a consumer receives.
var unfilteredRequestFields = [...]string{fasthttp.HeaderRange, fasthttp.HeaderIfRange, fasthttp.HeaderIfNoneMatch, fasthttp.HeaderIfModifiedSince}

// unfilteredReadFields are unfilteredRequestFields and, on a read, the write preconditions.
var unfilteredReadFields = [...]string{fasthttp.HeaderRange, fasthttp.HeaderIfRange, fasthttp.HeaderIfNoneMatch, fasthttp.HeaderIfModifiedSince,
	fasthttp.HeaderIfMatch, fasthttp.HeaderIfUnmodifiedSince}

// unfilteredFieldsOf is the list that applies to the request's method.
func unfilteredFieldsOf(h *fasthttp.RequestHeader) []string {
	if h.IsGet() || h.IsHead() {
		return unfilteredReadFields[:]
	}
	return unfilteredRequestFields[:]
}

// unfilteredResponseFields are the provider's validators and digests of the whole
// document. A digest (RFC 9530's Repr-Digest and Content-Digest, RFC 3230's Digest,
// Content-MD5) is the same oracle as a content-hash ETag, without the seal: the consumer
// of a cut could confirm guesses of the fields withheld from it. They go whatever the
// route's response_headers release, since one route's resource may be opaque under one
// policy revision and released by fields under the next.
var unfilteredResponseFields = [...]string{fasthttp.HeaderETag, fasthttp.HeaderLastModified,
	wire.HeaderReprDigest, wire.HeaderContentDigest, "Digest", "Content-MD5"}

// DropRangeRequest deletes every field of unfilteredFieldsOf(h) from the request, in any
// case, and reports whether none is left.
func DropRangeRequest(h *fasthttp.RequestHeader) bool {
	names := unfilteredFieldsOf(h)
	for _, name := range names {
		h.Del(name)
	}
	// The server normalizes request names, so "range" is held as "Range" and Del has
	// removed every copy. For a header whose names are kept as received, where Del matches
	// only the exact bytes, each spelling left is deleted as the header holds it; at most
	// one round per field, so a name that will not go ends the loop, and the caller refuses.
	n := rangeFields(h, names)
	if n == 0 {
		return true
	}
	for ; n > 0; n-- {
		var found []byte
		for k := range h.All() {
			if oneOfFold(k, names) {
				found = k
				break
			}
		}
		if found == nil {
			return true
		}
		h.DelBytes(found) // copied into the header's own key buffer before deleting
	}
	return rangeFields(h, names) == 0
}

func rangeFields(h *fasthttp.RequestHeader, names []string) int {
	n := 0
	for k := range h.All() {
		if oneOfFold(k, names) {
			n++
		}
	}
	return n
}

// partialResponse reports whether a provider's response is a part of its representation:
// status 206, or a Content-Range field in any case (which has no meaning on another status,
// and which no reader should be left to interpret); and the span its Content-Range
// announces: the bytes of its one well-formed field (contentRange), 0 when it sent none,
// -1 when it sent several or a malformed one.
func partialResponse(h *fasthttp.ResponseHeader) (partial bool, span int64) {
	fields := 0
	for k, v := range h.All() {
		if equalFold(k, fasthttp.HeaderContentRange) {
			if fields++; fields == 1 {
				if first, last, _, ok := contentRange(v); ok {
					span = last - first + 1
				} else {
					span = -1
				}
			}
		}
	}
	if fields > 1 {
		span = -1
	}
	return fields > 0 || h.StatusCode() == fasthttp.StatusPartialContent, span
}

// contentRange reads a byte Content-Range of a part, RFC 9110 14.4's
// "bytes first-last/total" in digits, total "*" when unknown (-1): first <= last < total.
// The unsatisfied form (*/total) is not a part.
func contentRange(v []byte) (first, last, total int64, ok bool) {
	rest, ok := bytes.CutPrefix(v, []byte("bytes "))
	if !ok {
		return 0, 0, 0, false
	}
	span, size, ok1 := bytes.Cut(rest, []byte("/"))
	a, b, ok2 := bytes.Cut(span, []byte("-"))
	first, okA := decimal(a)
	last, okB := decimal(b)
	total, okT := decimal(size)
	if string(size) == "*" {
		total, okT = -1, true
	}
	// last < MaxInt64, so that the span last-first+1 is an int64 when the total is "*".
	if !ok1 || !ok2 || !okA || !okB || !okT || last < first || last == math.MaxInt64 || (total >= 0 && total <= last) {
		return 0, 0, 0, false
	}
	return first, last, total, true
}

// decimal reads a non-negative int64 of digits only (strconv.ParseInt takes a sign too).
func decimal(s []byte) (int64, bool) {
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' || n > (math.MaxInt64-int64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, len(s) > 0
}

// DropResponseValidators deletes the provider's ETag, Last-Modified and digests of its
// whole document (unfilteredResponseFields) in any case: the upstream client keeps names
// as the provider wrote them, and Del matches exact bytes.
func DropResponseValidators(h *fasthttp.ResponseHeader) {
	// DelBytes removes every field of one spelling; each round removes one spelling, and
	// there cannot be more spellings than fields.
	for n := h.Len(); n > 0; n-- {
		var found []byte
		for k := range h.All() {
			if oneOfFold(k, unfilteredResponseFields[:]) {
				found = k
				break
			}
		}
		if found == nil {
			return
		}
		h.DelBytes(found)
	}
}

// checkPartial holds a provider's part of its representation (206, or a Content-Range) to
// what was asked, on every route, after the release stage (so that a cut resource's
// refusal keeps its code, RESPONSE_PARTIAL) and before any byte leaves:
//
//   - a part answered to a request forwarded without Range is refused (PARTIAL_UNASKED):
//     the consumer asked for the whole, and the part, released with a receipt and the
//     digest of what was sent, passes every check a client makes of one transfer;
//   - a 206 is one well-formed byte range (contentRange) of exactly its span, or a
//     multipart/byteranges answer to a request for several ranges (RANGE_MALFORMED): the
//     span check, and a resuming client's offset, read that one field; a 206 it cannot
//     read went out unchecked, and its bytes past the span were appended to FILE.part;
//   - a 206 to If-Range with an entity-tag carries that tag, strong (PARTIAL_OTHER_VERSION):
//     a provider that ignored If-Range sends the rest of another version;
//   - Content-Range on any status other than 206 and 416 is refused (RANGE_MALFORMED):
//     curl resumes on a 200 that carries one, as if it were the part.
//
// buffered says the body is in ctx.Response, whose length is checked against the span
// here; a streamed body is checked as it is read (streamBody.span).
func checkPartial(ctx *fasthttp.RequestCtx, x *Exchange, buffered bool) *Error {
	if !x.partial {
		return nil
	}
	rng := ctx.Request.Header.Peek(fasthttp.HeaderRange)
	if len(rng) == 0 {
		return ReleaseRefusal(false, Reason{Code: "PARTIAL_UNASKED", Message: "the provider answered a part of its representation (206 or Content-Range) to a request without Range"})
	}
	resp := &ctx.Response
	switch resp.StatusCode() {
	case fasthttp.StatusRequestedRangeNotSatisfiable:
		return nil
	case fasthttp.StatusPartialContent:
	default:
		return errRangeMalformed("Content-Range on a status other than 206 or 416")
	}
	if err := ifRangeHeld(ctx); err != nil {
		return err
	}
	switch {
	case x.span > 0:
		if buffered && !ctx.IsHead() && int64(len(resp.Body())) != x.span {
			return errRangeSize(x.span, int64(len(resp.Body())))
		}
		return nil
	case x.span == 0 && bytes.IndexByte(rng, ',') >= 0 && bytes.HasPrefix(resp.Header.ContentType(), []byte("multipart/byteranges")):
		return nil
	}
	return errRangeMalformed("a 206 without one well-formed byte Content-Range (bytes first-last/total)")
}

// ifRangeHeld refuses a 206 to a request whose If-Range is an entity-tag, unless the 206's
// one ETag is that tag and strong (RFC 9110 13.1.5: strong comparison). A date If-Range is
// left to the provider.
func ifRangeHeld(ctx *fasthttp.RequestCtx) *Error {
	ir := ctx.Request.Header.Peek(fasthttp.HeaderIfRange)
	if len(ir) == 0 || (ir[0] != '"' && !bytes.HasPrefix(ir, []byte("W/"))) {
		return nil
	}
	var tag []byte
	tags := 0
	for k, v := range ctx.Response.Header.All() {
		if equalFold(k, fasthttp.HeaderETag) {
			tags++
			tag = v
		}
	}
	if tags == 1 && ir[0] == '"' && bytes.Equal(tag, ir) {
		return nil
	}
	return ReleaseRefusal(false, Reason{Code: "PARTIAL_OTHER_VERSION", Message: "the provider answered 206 to If-Range without the entity-tag asked for (it ignored If-Range: the part may be of another version)"})
}

func errRangeMalformed(what string) *Error {
	return ReleaseRefusal(false, Reason{Code: "RANGE_MALFORMED", Message: "the provider's part cannot be read as the range asked for: " + what})
}
