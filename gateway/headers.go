package gateway

import (
	"bytes"
	"net"
	"net/netip"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/wire"
)

// What crosses the gateway in header fields, in both directions. Names are compared in
// any case, always: the upstream client keeps the provider's names as received
// (DisableHeaderNamesNormalizing), where fasthttp's own Peek and Del match only the exact
// bytes, and a provider answering "x-classification" must be read as surely as one
// answering "X-Classification".

// hopByHop are the connection-specific fields of RFC 9110 §7.6.1 plus the legacy ones that
// proxies still meet; they describe one connection and never cross the gateway.
var hopByHop = [...]string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
}

// clientForwarding are the fields by which a client claims where it is, what host or URL it
// asked for, or what the proxies before it saw. At a network boundary nobody can check
// such a claim, and a provider that believes one (for access rules, logs or links) is
// misled, so the gateway removes them all and sets its own X-Forwarded-For,
// X-Forwarded-Proto and X-Request-Id.
var clientForwarding = [...]string{
	"Forwarded", wire.HeaderForwardedFor, wire.HeaderForwardedProto, "X-Forwarded-Host", "X-Forwarded-Port",
	"X-Forwarded-Prefix", "X-Forwarded-Server", "X-Forwarded-Scheme", "X-Forwarded-Ssl",
	"X-Forwarded-Uri", "X-Forwarded-By", "X-Original-Forwarded-For", "X-Real-IP",
	"X-Client-IP", "Client-IP", "True-Client-IP", "CF-Connecting-IP", "Fastly-Client-IP",
	"X-Cluster-Client-IP", "X-Originating-IP", "X-Remote-IP", "X-Remote-Addr",
	"X-ProxyUser-Ip", "X-Original-URL", "X-Original-Uri", "X-Rewrite-URL", "X-Original-Host",
	"X-Host", "Front-End-Https", "X-Url-Scheme", wire.HeaderRequestID,
}

// methodOverrides are the fields by which frameworks let a client replace the method a
// provider acts on. The policy decided on the request's own method, so a request carrying
// one is refused rather than forwarded with or without it.
var methodOverrides = [...]string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"}

// releasedResponseHeaders are the provider's response fields a consumer receives on every
// route: how to read the body and how long it may be kept. Anything else a provider sends
// (Set-Cookie, Server, debugging and tracing fields, Location, CORS and HSTS policy) is
// about the provider, not the data shared, and stops at the gateway; a route adds fields
// with response_headers. Date is the gateway's own, written by its server.
var releasedResponseHeaders = [...]string{
	"Content-Type", "Content-Length", "Content-Encoding", "Content-Language",
	"Content-Disposition", "Cache-Control", "Expires", "ETag", "Last-Modified", "Vary",
}

// gatewayOwned are response fields only the gateway sets; a provider's are removed and no
// route may release them (a provider's lower-case "date" would go out beside the Date the
// gateway's server writes).
var gatewayOwned = [...]string{wire.HeaderClassification, wire.HeaderReceipt, wire.HeaderRequestID, "Date", "Server"}

// equalFold reports whether two names are equal in any ASCII case, without converting
// either (a conversion would allocate on the hot path).
func equalFold[A, B ~string | ~[]byte](x A, y B) bool {
	if len(x) != len(y) {
		return false
	}
	for i := 0; i < len(x); i++ {
		a, b := x[i], y[i]
		if a != b && lowerASCII(a) != lowerASCII(b) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func oneOfFold[B ~string | ~[]byte](name B, set []string) bool {
	for _, s := range set {
		if equalFold(name, s) {
			return true
		}
	}
	return false
}

func isHopByHop[B ~string | ~[]byte](name B) bool { return oneOfFold(name, hopByHop[:]) }

const govgatePrefix = wire.GovgatePrefix

func hasGovgatePrefix[B ~string | ~[]byte](name B) bool {
	return len(name) >= len(govgatePrefix) && equalFold(name[:len(govgatePrefix)], govgatePrefix)
}

// The wire names the gateway's callers and tests know it by (package wire holds them).
const (
	HeaderAgreement     = wire.HeaderAgreement
	HeaderPurpose       = wire.HeaderPurpose
	HeaderReceipt       = wire.HeaderReceipt
	HeaderContentDigest = wire.HeaderContentDigest
)

func errAmbiguousHeader(name string) *Error {
	return Errorf(fasthttp.StatusBadRequest, "ambiguous_header", "%s is sent more than once or named in Connection; the gateway reads a security-relevant field only when it is unambiguous", name)
}

func errMethodOverride() *Error {
	return Errorf(fasthttp.StatusBadRequest, "method_override", "X-HTTP-Method-Override and similar fields are refused: the policy decides on the request's own method")
}

// singleRequestFields are the request fields the gateway reads to decide or to prove an
// exchange: the declared agreement and purpose, and the SM2 request signature with the
// digest it covers. Each must arrive once and must not be nominated by Connection: a
// reader that takes the first line, one that joins the lines, and a proxy that drops a
// nominated field would each see a different request.
var singleRequestFields = [...]string{wire.HeaderAgreement, wire.HeaderPurpose, wire.HeaderSignature, wire.HeaderSignatureInput, wire.HeaderContentDigest}

// captureDeclared keeps what the consumer declares about the exchange (the agreement it
// acts under and its purpose) before the X-Govgate-* fields are stripped: they are inputs
// to policy and audit, never forwarded as the client wrote them. A request carrying one of
// singleRequestFields twice, in any case, is refused.
func captureDeclared(h *fasthttp.RequestHeader, x *Exchange) *Error {
	x.Agreement, x.Purpose = x.Agreement[:0], x.Purpose[:0]
	x.AgreementSent, x.PurposeSent = false, false
	if err := refuseRequestTrailers(h); err != nil {
		return err
	}
	var seen [len(singleRequestFields)]int
	for k, v := range h.All() {
		for i, name := range singleRequestFields {
			if equalFold(k, name) {
				seen[i]++
			}
		}
		switch {
		case equalFold(k, HeaderAgreement):
			x.Agreement = append(x.Agreement[:0], v...)
			x.AgreementSent = true
		case equalFold(k, HeaderPurpose):
			x.Purpose = append(x.Purpose[:0], v...)
			x.PurposeSent = true
		}
	}
	for i, n := range seen {
		if n > 1 {
			return errAmbiguousHeader(singleRequestFields[i])
		}
	}
	return nil
}

// stripRequestHeaders deletes hop-by-hop fields, the fields the Connection header names,
// the client's forwarding claims, and every X-Govgate-* field, which would let a client
// assert what only the gateway may (identity, decisions). A request whose Connection names
// a field the gateway reads (X-Govgate-*, Host, the signature fields), or that asks for
// another method by a header, is refused.
func stripRequestHeaders(h *fasthttp.RequestHeader, x *Exchange) *Error {
	x.resetMarks()
	for k, v := range h.All() {
		if equalFold(k, "Connection") {
			x.markConnectionTokens(v)
		}
	}
	nominated := len(x.marks)
	for i := range nominated {
		if name := x.marked(i); hasGovgatePrefix(name) || oneOfFold(name, singleRequestFields[:]) || equalFold(name, "Host") {
			return errAmbiguousHeader("a field the gateway reads (X-Govgate-*, Host, Signature, Signature-Input or Content-Digest)")
		}
	}
	for k := range h.All() {
		switch {
		case oneOfFold(k, methodOverrides[:]):
			return errMethodOverride()
		case bytes.IndexByte(k, '_') >= 0:
			if underscoreAlias(k) {
				return errUnderscoreAlias(k)
			}
			x.mark(k)
		case hasGovgatePrefix(k) || isHopByHop(k) || oneOfFold(k, clientForwarding[:]) || x.isNominated(k, nominated):
			x.mark(k)
		}
	}
	x.deleteMarked(h, nominated)
	return nil
}

// refuseRequestTrailers refuses a chunked request that carried trailer fields or announced
// some. fasthttp keeps them apart from the header, out of reach of every check
// above, and moves them into the header when the Trailer field is deleted — so a consumer
// could send X-Govgate-Consumer-Dept or X-HTTP-Method-Override after its last chunk and
// have the provider receive them as header fields. No exchange govgate carries needs a
// request trailer.
func refuseRequestTrailers(h *fasthttp.RequestHeader) *Error {
	if h.ContentLength() != -1 {
		// Not chunked: no trailer section can have arrived, and a bare Trailer
		// announcement is a hop-by-hop field, removed with the others.
		return nil
	}
	for range h.Trailers() {
		return Errorf(fasthttp.StatusBadRequest, "trailers_refused", "request trailer fields are not forwarded; send every field in the header")
	}
	return nil
}

// underscoreAlias reports whether a request field name with '_' in it names, with each
// '_' read as '-', a field the gateway reads, sets or removes. CGI-style environments
// (CGI meta-variables, WSGI environ, PHP $_SERVER) turn '-' into '_', so a provider behind
// one reads X_Govgate_Consumer_Dept as the X-Govgate-Consumer-Dept the gateway asserts.
// Such a name is refused; any other name with '_' is dropped, as nginx does by default
// (underscores_in_headers off), so that no provider sees two spellings of one field.
func underscoreAlias(name []byte) bool {
	var buf [128]byte
	if len(name) > len(buf) {
		return true // longer than any field the gateway knows; refusing costs nothing
	}
	n := copy(buf[:], name)
	dashed := buf[:n]
	for i, c := range dashed {
		if c == '_' {
			dashed[i] = '-'
		}
	}
	return hasGovgatePrefix(dashed) || isHopByHop(dashed) || oneOfFold(dashed, clientForwarding[:]) ||
		oneOfFold(dashed, methodOverrides[:]) || oneOfFold(dashed, singleRequestFields[:]) ||
		oneOfFold(dashed, underscoreSensitive[:])
}

// underscoreSensitive are the framing and routing fields not in the lists above.
var underscoreSensitive = [...]string{"Host", "Content-Length", "Content-Type", "Content-Encoding", "Authorization", "Cookie"}

func errUnderscoreAlias(name []byte) *Error {
	return Errorf(fasthttp.StatusBadRequest, "ambiguous_header", "%.64q spells with '_' a field the gateway reads or sets; a provider behind a CGI-style server would read it as that field", name)
}

// stripResponseHeaders keeps, of a provider's response, only the fields a consumer may
// receive: releasedResponseHeaders and the route's response_headers, less any a Connection
// header nominates. The provider's label is taken out and kept on the exchange for the
// release stage to check; the gateway writes the label the consumer receives.
func stripResponseHeaders(h *fasthttp.ResponseHeader, x *Exchange) {
	var extra []string
	if x.entry != nil {
		extra = x.entry.ResponseHeaders
	}
	unannounceTrailers(h)
	x.resetMarks()
	x.label, x.labels = x.label[:0], 0
	for k, v := range h.All() {
		if equalFold(k, "Connection") {
			x.markConnectionTokens(v)
		}
	}
	nominated := len(x.marks)
	x.labelNominated = x.isNominated([]byte(HeaderClassification), nominated)
	for k, v := range h.All() {
		switch {
		case equalFold(k, HeaderClassification):
			if x.labels++; x.labels == 1 {
				x.label = append(x.label, v...)
			}
			x.mark(k)
		case x.isNominated(k, nominated) || !(oneOfFold(k, releasedResponseHeaders[:]) || oneOfFold(k, extra)):
			x.mark(k)
		}
	}
	x.deleteMarked(h, nominated)
}

// unannounceTrailers moves a chunked response's trailer fields into its header, where
// the allowlist sees them: fasthttp keeps them apart and lists only the announced names.
func unannounceTrailers(h *fasthttp.ResponseHeader) {
	for range h.Trailers() {
		h.Del(fasthttp.HeaderTrailer)
		return
	}
}

// The names to delete are collected into the exchange's scratch space first, since fasthttp
// cannot delete while visiting, and the space is reused so that this does not allocate.
// The first marks are the names a Connection header nominates, the rest the names found.
func (x *Exchange) resetMarks() {
	x.scratch = x.scratch[:0]
	x.marks = x.marks[:0]
}

func (x *Exchange) markConnectionTokens(v []byte) {
	for t := range connectionTokens(v) {
		x.mark(t)
	}
}

func (x *Exchange) mark(name []byte) {
	x.scratch = append(x.scratch, name...)
	x.marks = append(x.marks, len(x.scratch))
}

func (x *Exchange) marked(i int) []byte {
	start := 0
	if i > 0 {
		start = x.marks[i-1]
	}
	return x.scratch[start:x.marks[i]]
}

// isNominated reports whether one of the first n marks, the Connection tokens, is name.
func (x *Exchange) isNominated(name []byte, n int) bool {
	for i := range n {
		if equalFold(name, x.marked(i)) {
			return true
		}
	}
	return false
}

// deleteMarked deletes the hop-by-hop fields and the marks from the from-th on: the names
// exactly as the header holds them, which is what fasthttp's Del matches when the header's
// names are not normalized. The Connection tokens (the marks before from) are not deleted
// as written: the fields they nominate were marked under the names the header holds.
func (x *Exchange) deleteMarked(h headerDeleter, from int) {
	for _, name := range hopByHop {
		h.Del(name)
	}
	for i := from; i < len(x.marks); i++ {
		h.DelBytes(x.marked(i))
	}
}

// headerDeleter is a request or a response header.
type headerDeleter interface {
	Del(key string)
	DelBytes(key []byte)
}

// connectionTokens yields the field names a Connection value lists: comma-separated, with
// optional whitespace around each; empty elements are skipped, as RFC 9110 §5.6.1 says a
// recipient must.
func connectionTokens(v []byte) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(v) > 0 {
			var t []byte
			if i := bytes.IndexByte(v, ','); i >= 0 {
				t, v = v[:i], v[i+1:]
			} else {
				t, v = v, nil
			}
			if t = bytes.Trim(t, " \t"); len(t) > 0 && !yield(t) {
				return
			}
		}
	}
}

// setForwardedHeaders replaces, never appends to, the forwarding fields: at a network
// boundary a client's own X-Forwarded-For is a claim nobody can check. The pool's own
// fields are deleted first, so that a client's copy cannot ride along beside the one the
// gateway sets.
func setForwardedHeaders(ctx *fasthttp.RequestCtx, x *Exchange, tlsLike bool) {
	h := &ctx.Request.Header
	if x.entry != nil {
		for _, kv := range x.entry.pool.headers {
			h.DelBytes(kv[0])
		}
	}
	x.scratch = appendRemoteIP(x.scratch[:0], ctx.RemoteAddr())
	h.SetBytesV(wire.HeaderForwardedFor, x.scratch)
	if tlsLike {
		h.Set(wire.HeaderForwardedProto, "https")
	} else {
		h.Set(wire.HeaderForwardedProto, "http")
	}
	h.SetBytesV(wire.HeaderRequestID, x.ID)
	if id := &x.Identity; id.Dept != "" {
		// Asserted by the gateway; the client's own X-Govgate-* fields are gone by now.
		h.Set(wire.HeaderConsumerDept, id.Dept)
		h.Set(wire.HeaderConsumerSystem, id.System)
		h.Set(wire.HeaderConsumerCert, id.CertSerial)
		if id.Signed {
			h.Set(wire.HeaderSigned, wire.SignatureAlgorithm)
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

// HeaderClassification is the security label of a response, set by the provider or, when
// it sets none, by the gateway from the catalog. The consumer receives the gateway's,
// written after the label is checked; the provider's is read by ProviderLabel.
const HeaderClassification = wire.HeaderClassification

// ProviderLabel is the label the provider set on its response, "" when it set none. A
// label the gateway cannot read as exactly one value is refused rather than replaced by
// the catalog's: sent twice (a reader could take either), nominated hop-by-hop by the
// provider's Connection header (a proxy between would have removed it), or empty. Whether
// the one value is a known label is the release stage's to say. A refusal is an *Error
// (403 release_denied).
func (x *Exchange) ProviderLabel() (string, error) {
	switch {
	case x.labelNominated:
		return "", labelAmbiguous("the provider's Connection header names X-Classification, so a proxy would drop it")
	case x.labels > 1:
		return "", labelAmbiguous("the provider's response carries X-Classification more than once")
	case x.labels == 1 && len(x.label) == 0:
		return "", labelAmbiguous("the provider's X-Classification is empty")
	}
	return string(x.label), nil
}

func labelAmbiguous(msg string) error {
	return ReleaseRefusal(true, Reason{Code: "LABEL_AMBIGUOUS", Message: msg})
}

// unreleasable says why a route may not add name to the response fields it releases, or
// "" when it may.
func unreleasable(name string) string {
	switch {
	case !validHeaderName(name):
		return "is not a header field name"
	case isHopByHop(name):
		return "is hop-by-hop: it describes one connection"
	case equalFold(name, "Set-Cookie") || equalFold(name, "Set-Cookie2"):
		return "would let a provider set state in the consumer's client"
	case hasGovgatePrefix(name) || oneOfFold(name, gatewayOwned[:]):
		return "is the gateway's own"
	}
	return ""
}
