package gateway

import (
	"bytes"
	"net"
	"net/netip"
	"time"

	"github.com/valyala/fasthttp"
)

// maxResponseBytes bounds what one provider response can make the gateway buffer.
const maxResponseBytes = 64 << 20

// hopByHop are the connection-specific fields of RFC 9110 §7.6.1 plus the legacy ones that
// proxies still meet; they describe one connection and never cross the gateway.
var hopByHop = [...]string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
}

func isHopByHop(name string) bool {
	for _, h := range hopByHop {
		if len(h) == len(name) && bytes.EqualFold([]byte(h), []byte(name)) {
			return true
		}
	}
	return false
}

var govgatePrefix = []byte("x-govgate-")

func hasGovgatePrefix[S ~string | ~[]byte](name S) bool {
	return len(name) >= len(govgatePrefix) && bytes.EqualFold([]byte(name[:len(govgatePrefix)]), govgatePrefix)
}

// headerDeleter is a request or a response header.
type headerDeleter interface {
	Del(key string)
	DelBytes(key []byte)
}

// stripRequestHeaders deletes hop-by-hop fields, the fields the Connection header names,
// and every X-Govgate-* field, which would let a client assert what only the gateway may
// (identity, decisions).
func stripRequestHeaders(h *fasthttp.RequestHeader, x *Exchange) {
	x.resetMarks()
	x.markConnectionTokens(h.Peek("Connection"))
	h.VisitAll(func(k, _ []byte) {
		if hasGovgatePrefix(k) {
			x.mark(k)
		}
	})
	x.deleteMarked(h)
}

// stripResponseHeaders does the same to a provider's response, where an X-Govgate-* field
// would let the provider forge a receipt. It repeats stripRequestHeaders for the other
// concrete header type: through an interface the visiting closure would escape and
// allocate on every request.
func stripResponseHeaders(h *fasthttp.ResponseHeader, x *Exchange) {
	x.resetMarks()
	x.markConnectionTokens(h.Peek("Connection"))
	h.VisitAll(func(k, _ []byte) {
		if hasGovgatePrefix(k) {
			x.mark(k)
		}
	})
	x.deleteMarked(h)
}

// The names to delete are collected into the exchange's scratch space first, since fasthttp
// cannot delete while visiting, and the space is reused so that this does not allocate.
func (x *Exchange) resetMarks() {
	x.scratch = x.scratch[:0]
	x.marks = x.marks[:0]
}

func (x *Exchange) markConnectionTokens(v []byte) {
	for len(v) > 0 {
		var t []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		if t = bytes.TrimSpace(t); len(t) > 0 {
			x.mark(t)
		}
	}
}

func (x *Exchange) deleteMarked(h headerDeleter) {
	for _, name := range hopByHop {
		h.Del(name)
	}
	start := 0
	for _, end := range x.marks {
		h.DelBytes(x.scratch[start:end])
		start = end
	}
}

func (x *Exchange) mark(name []byte) {
	x.scratch = append(x.scratch, name...)
	x.marks = append(x.marks, len(x.scratch))
}

// captureDeclared keeps what the consumer declares about the exchange (the agreement it
// acts under and its purpose) before the X-Govgate-* fields are stripped: they are inputs
// to policy and audit, never forwarded as the client wrote them.
func captureDeclared(h *fasthttp.RequestHeader, x *Exchange) {
	x.Agreement = append(x.Agreement[:0], h.Peek(HeaderAgreement)...)
	x.Purpose = append(x.Purpose[:0], h.Peek(HeaderPurpose)...)
}

// Headers the consumer sets to declare its agreement and purpose (covered by its signature).
const (
	HeaderAgreement = "X-Govgate-Agreement"
	HeaderPurpose   = "X-Govgate-Purpose"
	HeaderReceipt   = "X-Govgate-Receipt"
)

// setForwardedHeaders replaces, never appends to, the forwarding fields: at a network
// boundary a client's own X-Forwarded-For is a claim nobody can check.
func setForwardedHeaders(ctx *fasthttp.RequestCtx, x *Exchange, tlsLike bool) {
	h := &ctx.Request.Header
	x.scratch = appendRemoteIP(x.scratch[:0], ctx.RemoteAddr())
	h.SetBytesV("X-Forwarded-For", x.scratch)
	if tlsLike {
		h.Set("X-Forwarded-Proto", "https")
	} else {
		h.Set("X-Forwarded-Proto", "http")
	}
	h.SetBytesV("X-Request-Id", x.ID)
	if id := &x.Identity; id.Dept != "" {
		// Asserted by the gateway; the client's own X-Govgate-* fields are gone by now.
		h.Set("X-Govgate-Consumer-Dept", id.Dept)
		h.Set("X-Govgate-Consumer-System", id.System)
		h.Set("X-Govgate-Consumer-Cert", id.CertSerial)
		if id.Signed {
			h.Set("X-Govgate-Signed", "sm2-sm3")
		}
	}
}

func appendRemoteIP(dst []byte, addr net.Addr) []byte {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(tcp.IP); ok {
			return ip.Unmap().AppendTo(dst)
		}
	}
	return append(dst, addr.String()...)
}

// forward sends the request to a member of the route's pool, in place: ctx.Request goes
// out as it is and the upstream's answer lands in ctx.Response.
func (g *Gateway) forward(ctx *fasthttp.RequestCtx, x *Exchange, e *routeEntry) *Error {
	m := e.pool.pick(time.Now().UnixNano())
	if m == nil {
		return Errorf(fasthttp.StatusServiceUnavailable, "no_healthy_upstream", "no member of pool %s is healthy", e.Pool)
	}
	x.Upstream = m.addr
	for _, kv := range e.pool.headers {
		ctx.Request.Header.SetBytesKV(kv[0], kv[1])
	}
	// fasthttp marks a request that came over crypto/tls as https; providers are reached
	// over plain HTTP inside the zone, and the client refuses a scheme it does not speak.
	ctx.Request.URI().SetScheme("http")
	if err := checkForwardable(&ctx.Request); err != nil {
		return err
	}
	m.inFlight.Add(1)
	err := m.client.DoTimeout(&ctx.Request, &ctx.Response, e.Timeout)
	m.inFlight.Add(-1)
	if err != nil {
		ue, providerFault := upstreamError(err, e)
		if providerFault {
			e.pool.observe(m, true)
		}
		return ue
	}
	e.pool.observe(m, false)
	stripResponseHeaders(&ctx.Response.Header, x)
	return nil
}
