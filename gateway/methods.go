package gateway

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Methods the gateway never forwards, whatever the policy says: TRACE (and TRACK, IIS's
// name for it) makes a provider echo the request, with the credential the pool adds, back
// to the consumer; CONNECT would make the gateway a tunnel to wherever the provider's
// network reaches. Compared without case: some servers read methods that way. Every other
// method is the policy's call (request.method in its input; the methods of each sharing
// mode in data.modes).
var neverForwardedMethods = [...]string{"TRACE", "TRACK", "CONNECT"}

func neverForwarded(method []byte) bool {
	for _, m := range neverForwardedMethods {
		if len(m) == len(method) && bytes.EqualFold([]byte(m), method) {
			return true
		}
	}
	return false
}

func errMethodNeverForwarded(method []byte) *Error {
	return Errorf(fasthttp.StatusMethodNotAllowed, "method_not_allowed", "%s is never forwarded to a provider", method)
}
