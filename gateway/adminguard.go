package gateway

import (
	"bytes"
	"mime"
	"net"
	"strconv"

	"github.com/valyala/fasthttp"
)

// adminGuard keeps the admin API to the clients it is meant for. Without role
// certificates the API trusts whoever reaches its loopback port, and a browser on the
// gateway host reaches it too: by DNS rebinding (a page whose name now resolves to
// 127.0.0.1 sends its own name as Host) and by cross-site requests (a form or fetch from
// any page). So, in every admin mode:
//   - a request must name one of the API's own hosts, in the Host header and in an
//     absolute-form target; anything else, or no host, is 421 host_not_allowed;
//   - a request a browser marks as coming from another origin — an Origin that is not one
//     of those hosts (or "null"), or Sec-Fetch-Site other than same-origin or none — is
//     403 cross_site_refused, for reads as for writes: records and metrics are data;
//   - a request body must be application/json (415 content_type_refused): text/plain,
//     urlencoded and multipart bodies are what a cross-site form sends without asking.
//
// /healthz and /readyz answer any Host: load balancers probe by address. To a Host that is
// not one of the API's own they say up, or ready or not, and no more (serveReady): which
// stage is degraded and why is for the operator, and the why can name internal addresses.
type adminGuard struct {
	hosts       []hostPort
	scheme      string // of the admin listener: http, or https when it speaks TLCP
	defaultPort string // the port a Host without one means
}

// hostPort is a host name (lowercase; an IPv6 address in brackets) and a port.
type hostPort struct{ host, port string }

// newAdminGuard allows the bound address, the loopback names and the configured hosts,
// each at the port the API is bound to unless it names its own. hosts were checked by
// validateAdminHosts.
func newAdminGuard(hosts []string, bound net.Addr, tlcp bool) *adminGuard {
	g := &adminGuard{scheme: "http", defaultPort: "80"}
	if tlcp {
		g.scheme, g.defaultPort = "https", "443"
	}
	port := ""
	if tcp, ok := bound.(*net.TCPAddr); ok {
		port = strconv.Itoa(tcp.Port)
		if !tcp.IP.IsUnspecified() {
			g.allow(net.JoinHostPort(tcp.IP.String(), port), port)
		}
	}
	for _, h := range append([]string{"localhost", "127.0.0.1", "[::1]"}, hosts...) {
		g.allow(h, port)
	}
	return g
}

func (g *adminGuard) allow(authority, port string) {
	host, p, ok := splitAuthority([]byte(authority))
	if !ok {
		return
	}
	if len(p) == 0 {
		p = []byte(port)
	}
	g.hosts = append(g.hosts, hostPort{string(bytes.ToLower(host)), string(p)})
}

// allowed reports whether an authority (host[:port]) names this API; a missing port is
// defaultPort, the port its scheme implies. Host names compare without case (RFC 9110
// 4.2.3); nothing else is normalised — "localhost." is not "localhost".
func (g *adminGuard) allowed(authority []byte, defaultPort string) bool {
	host, port, ok := splitAuthority(authority)
	if !ok {
		return false
	}
	if len(port) == 0 {
		port = []byte(defaultPort)
	}
	for _, h := range g.hosts {
		if string(port) == h.port && bytes.EqualFold(host, []byte(h.host)) {
			return true
		}
	}
	return false
}

// check refuses a request that is not for this API, or that a browser sent on another
// site's behalf; nil lets it through to the role check and the endpoint.
func (g *adminGuard) check(ctx *fasthttp.RequestCtx) *Error {
	path := ctx.Path()
	probe := string(path) == "/healthz" || string(path) == "/readyz"
	if !probe {
		if e := g.checkHost(&ctx.Request.Header); e != nil {
			return e
		}
	}
	if e := g.checkSite(&ctx.Request.Header); e != nil {
		return e
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		return checkJSONBody(ctx)
	}
	return nil
}

// ownHost reports whether a request names this API, in Host and in any absolute-form
// target, as every endpoint but the probes must.
func (g *adminGuard) ownHost(h *fasthttp.RequestHeader) bool { return g.checkHost(h) == nil }

func errHostNotAllowed(what string) *Error {
	return Errorf(fasthttp.StatusMisdirectedRequest, "host_not_allowed", "%s; the admin API answers only to its own host names (admin.hosts)", what)
}

// checkHost checks the Host header and, for an absolute-form target, its authority too
// (which a server must prefer to Host, RFC 9112 3.2.2): both must name this API.
func (g *adminGuard) checkHost(h *fasthttp.RequestHeader) *Error {
	host := h.Host()
	if len(host) == 0 {
		return errHostNotAllowed("the request names no host")
	}
	if !g.allowed(host, g.defaultPort) {
		return errHostNotAllowed("the request is for another host")
	}
	target := h.RequestURI()
	if len(target) > 0 && target[0] == '/' {
		return nil
	}
	authority, defaultPort, ok := absoluteAuthority(target)
	if !ok || !g.allowed(authority, defaultPort) {
		return errHostNotAllowed("the request target names another host")
	}
	return nil
}

// absoluteAuthority returns the authority of an absolute-form http or https target and
// the port its scheme implies.
func absoluteAuthority(target []byte) (authority []byte, defaultPort string, ok bool) {
	scheme, rest, ok := bytes.Cut(target, []byte("://"))
	if !ok {
		return nil, "", false
	}
	switch {
	case bytes.EqualFold(scheme, []byte("http")):
		defaultPort = "80"
	case bytes.EqualFold(scheme, []byte("https")):
		defaultPort = "443"
	default:
		return nil, "", false
	}
	if end := bytes.IndexAny(rest, "/?#"); end >= 0 {
		rest = rest[:end]
	}
	return rest, defaultPort, true
}

func errCrossSite(what string) *Error {
	return Errorf(fasthttp.StatusForbidden, "cross_site_refused", "%s; the admin API serves no other site's pages", what)
}

// checkSite refuses what a browser marks as sent from another origin. Clients that are
// not browsers (curl, the CLI, scrapers) send neither header.
func (g *adminGuard) checkSite(h *fasthttp.RequestHeader) *Error {
	if site := h.PeekAll("Sec-Fetch-Site"); len(site) > 1 {
		return errCrossSite("the request carries Sec-Fetch-Site more than once")
	} else if len(site) == 1 && !bytes.EqualFold(site[0], []byte("same-origin")) && !bytes.EqualFold(site[0], []byte("none")) {
		return errCrossSite("the browser sent this request from another site (Sec-Fetch-Site: " + string(site[0]) + ")")
	}
	origins := h.PeekAll(fasthttp.HeaderOrigin)
	switch {
	case len(origins) == 0:
		return nil
	case len(origins) > 1:
		return errCrossSite("the request carries Origin more than once")
	case !g.sameOrigin(origins[0]):
		return errCrossSite("the request comes from another origin")
	}
	return nil
}

// sameOrigin reports whether an Origin (scheme "://" authority, nothing after it) is this
// API: its scheme, one of its hosts. "null" — sandboxed pages, file: URLs, redirects
// across origins — is never this API.
func (g *adminGuard) sameOrigin(origin []byte) bool {
	authority, defaultPort, ok := absoluteAuthority(origin)
	if !ok || len(authority) != len(origin)-len(g.scheme)-len("://") || !bytes.EqualFold(origin[:len(g.scheme)], []byte(g.scheme)) {
		return false
	}
	return g.allowed(authority, defaultPort)
}

// checkJSONBody refuses a request body that is not application/json (parameters such as
// charset allowed). A request without a body needs no Content-Type: curl -X POST and the
// CLI send none, and a browser cannot send a bodiless cross-site POST without an Origin.
func checkJSONBody(ctx *fasthttp.RequestCtx) *Error {
	ct := ctx.Request.Header.ContentType()
	if len(ct) == 0 && len(ctx.Request.Body()) == 0 {
		return nil
	}
	if mt, _, err := mime.ParseMediaType(string(ct)); err != nil || mt != "application/json" {
		return Errorf(fasthttp.StatusUnsupportedMediaType, "content_type_refused", "the admin API takes request bodies as application/json only, not %q", ct)
	}
	return nil
}

// splitAuthority splits host[:port] strictly: a registered name of letters, digits, '-',
// '.' and '_', an IPv4 address, or an IPv6 address in brackets; a port of digits without
// a leading zero. Userinfo, percent-encoding, spaces and empty parts are refused, so that
// no two parsers can read one authority as two hosts.
func splitAuthority(a []byte) (host, port []byte, ok bool) {
	if len(a) == 0 {
		return nil, nil, false
	}
	if a[0] == '[' {
		end := bytes.IndexByte(a, ']')
		if end < 0 {
			return nil, nil, false
		}
		host, a = a[:end+1], a[end+1:]
		if !validIPv6Literal(host[1:end]) {
			return nil, nil, false
		}
	} else {
		i := bytes.IndexByte(a, ':')
		if i < 0 {
			i = len(a)
		}
		host, a = a[:i], a[i:]
		if !validRegName(host) {
			return nil, nil, false
		}
	}
	if len(a) == 0 {
		return host, nil, true
	}
	if a[0] != ':' || !validPort(a[1:]) {
		return nil, nil, false
	}
	return host, a[1:], true
}

func validRegName(h []byte) bool {
	if len(h) == 0 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func validIPv6Literal(h []byte) bool {
	ip := net.ParseIP(string(h))
	return ip != nil && bytes.IndexByte(h, ':') >= 0
}

func validPort(p []byte) bool {
	if len(p) == 0 || len(p) > 5 || (p[0] == '0' && len(p) > 1) {
		return false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

// validateAdminHosts checks admin.hosts: each a host name or address, with a port or
// without.
func validateAdminHosts(hosts []string, add addFunc) {
	for i, h := range hosts {
		if _, _, ok := splitAuthority([]byte(h)); !ok {
			add("admin.hosts["+strconv.Itoa(i)+"]", "%q is not a host name or address with an optional port (localhost, gw1.example, 10.0.0.5:9090, [fd00::5])", h)
		}
	}
}
