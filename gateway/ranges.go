package gateway

import (
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
// and which no reader should be left to interpret).
func partialResponse(h *fasthttp.ResponseHeader) bool {
	if h.StatusCode() == fasthttp.StatusPartialContent {
		return true
	}
	for k := range h.All() {
		if equalFold(k, fasthttp.HeaderContentRange) {
			return true
		}
	}
	return false
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

// unaskedPartial refuses a part of the representation (206, or a Content-Range) answered
// to a request forwarded without Range. The consumer asked for the whole; the part,
// released with a receipt and the digest of what was sent (and, starting at byte 0, no
// whole digest), passes every check a client makes of one transfer, and govgate call
// --output would keep it as a verified file. The release stage refuses every part of a
// resource released by fields (RESPONSE_PARTIAL); this is for the opaque ones, released
// whole. It runs after the release stage, so that the code of a cut resource's refusal
// stays that.
func unaskedPartial(ctx *fasthttp.RequestCtx, x *Exchange) *Error {
	if !x.partial || len(ctx.Request.Header.Peek(fasthttp.HeaderRange)) > 0 {
		return nil
	}
	return ReleaseRefusal(false, Reason{Code: "PARTIAL_UNASKED", Message: "the provider answered a part of its representation (206 or Content-Range) to a request without Range"})
}
