package gateway

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// The request target: what the gateway routes on, and what the provider receives. They are
// the same bytes: the path is routed as it arrived, only if every common server reads it
// the same way (ambiguousPath), and forwarded unchanged, in origin form, with the pool's
// Host — never the client's, which would let a provider that picks its resource by Host
// serve another one than the route names.

// routedPath returns the path of the request target to route on and forward, or nil when
// the target is refused. Every byte of the target, query included, must be visible ASCII
// and none may be '#': a fragment is never sent, and a server that splits on it reads
// another path. An absolute-form target (http://host/path) is admitted only when its
// authority is the Host header, since a front proxy and the gateway could otherwise
// choose by different hosts; it is forwarded in origin form. Asterisk and authority
// forms are refused.
func routedPath(h *fasthttp.RequestHeader) []byte {
	uri := h.RequestURI()
	for _, c := range uri {
		if c <= ' ' || c >= 0x7f || c == '#' {
			return nil
		}
	}
	if len(uri) > 0 && uri[0] != '/' {
		uri = absolutePath(uri, h.Host())
	}
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	if ambiguousPath(uri) {
		return nil
	}
	return uri
}

// absolutePath returns the path and query of an absolute-form target whose scheme is http
// or https and whose authority is host (no userinfo), or nil.
func absolutePath(uri, host []byte) []byte {
	var rest []byte
	switch {
	case hasPrefixFold(uri, "http://"):
		rest = uri[len("http://"):]
	case hasPrefixFold(uri, "https://"):
		rest = uri[len("https://"):]
	default:
		return nil
	}
	i := bytes.IndexByte(rest, '/')
	if i < 0 {
		return nil
	}
	if authority := rest[:i]; len(authority) == 0 || !bytes.EqualFold(authority, host) || bytes.IndexByte(authority, '@') >= 0 {
		return nil
	}
	return rest[i:]
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}

// setUpstreamTarget makes the request the provider receives: the path and query as they
// arrived, in origin form (fasthttp writes the URI's original path, since the pool's
// client disables path normalising), over plain HTTP, with the member's Host.
func setUpstreamTarget(req *fasthttp.Request, m *member) {
	// fasthttp marks a request that came over crypto/tls as https; providers are reached
	// over plain HTTP inside the zone, and the client refuses a scheme it does not speak.
	req.URI().SetScheme("http")
	req.Header.SetHostBytes(m.host)
	// Without this, fasthttp writes the host of the parsed URI — the client's Host, or the
	// authority of an absolute-form target — over the header just set.
	req.UseHostHeader = true
}
