package gateway

import "github.com/valyala/fasthttp"

// Range requests on resources the release stage filters. The field cut is defined on the
// top-level members of the whole document; a byte range of it is another document (a
// nested object becomes the top level, a cut string or number another value), which the
// cut would read as the whole. So on a filtered resource the consumer's Range and If-Range
// never reach the provider (dropRangeRequest, from the decide stage once the decision says
// the resource is filtered), and a provider answering with a part anyway — 206, or any
// Content-Range — is refused at release (RESPONSE_PARTIAL). Opaque resources, released
// whole, keep Range.

// dropRangeRequest deletes every Range and If-Range field of the request, in any case, and
// reports whether none is left.
func dropRangeRequest(h *fasthttp.RequestHeader) bool {
	h.Del(fasthttp.HeaderRange)
	h.Del(fasthttp.HeaderIfRange)
	// The server normalizes request names, so "range" is held as "Range" and Del has
	// removed every copy. For a header whose names are kept as received, where Del matches
	// only the exact bytes, each spelling left is deleted as the header holds it; at most
	// one round per field, so a name that will not go ends the loop, and the caller refuses.
	n := rangeFields(h)
	if n == 0 {
		return true
	}
	for ; n > 0; n-- {
		var found []byte
		for k := range h.All() {
			if isRangeField(k) {
				found = k
				break
			}
		}
		if found == nil {
			return true
		}
		h.DelBytes(found) // copied into the header's own key buffer before deleting
	}
	return rangeFields(h) == 0
}

func isRangeField(k []byte) bool {
	return equalFold(k, fasthttp.HeaderRange) || equalFold(k, fasthttp.HeaderIfRange)
}

func rangeFields(h *fasthttp.RequestHeader) int {
	n := 0
	for k := range h.All() {
		if isRangeField(k) {
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
