package gateway

import (
	"net"
	"net/url"
	"strings"
	"testing"
)

// fuzzGuard is an admin guard bound to 127.0.0.1:9090 with one configured name.
func fuzzGuard() *adminGuard {
	return newAdminGuard([]string{"gw1.example", "ops.example:8443"}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9090}, false)
}

// allowedByURL is the differential check: what net/url (what most clients and proxies
// use) reads as the host and port of an authority must be one of the guard's.
func allowedByURL(g *adminGuard, scheme, authority string) bool {
	u, err := url.Parse(scheme + "://" + authority)
	if err != nil || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Host != authority {
		return false
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	for _, h := range g.hosts {
		if h.host == host && h.port == port {
			return true
		}
	}
	return false
}

// FuzzAdminAuthority: an authority the guard accepts splits back into exactly its bytes
// (nothing dropped or normalised but case), and net/url reads the same allowed host and
// port from it; so no Host can be read as this API by the guard and as another host by
// anything behind or in front of it.
func FuzzAdminAuthority(f *testing.F) {
	for _, s := range []string{"127.0.0.1:9090", "localhost:9090", "LOCALHOST:9090", "[::1]:9090", "localhost.:9090",
		"127.0.0.1", "evil.example:9090", "a@127.0.0.1:9090", "127.0.0.1:09090", "[::1", "[::ffff:127.0.0.1]:9090",
		"gw1.example:9090", "ops.example:8443", "127.0.0.1:9090:9090", "127.0.0.1%2e:9090", "", ":9090", "[]:9090", "127.1:9090"} {
		f.Add(s)
	}
	g := fuzzGuard()
	f.Fuzz(func(t *testing.T, a string) {
		host, port, ok := splitAuthority([]byte(a))
		if ok {
			back := string(host)
			if port != nil {
				back += ":" + string(port)
			}
			if back != a || len(host) == 0 {
				t.Fatalf("%q split into %q and %q", a, host, port)
			}
		}
		if g.allowed([]byte(a), "80") && !allowedByURL(g, "http", a) {
			t.Fatalf("the guard allows %q, which net/url reads as another host", a)
		}
	})
}

// FuzzAdminOrigin: an Origin the guard takes as its own is, for net/url too, an http
// origin of one of its hosts with nothing after the authority.
func FuzzAdminOrigin(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:9090", "http://localhost:9090", "null", "https://127.0.0.1:9090",
		"http://127.0.0.1:9090/", "http://evil.example", "HTTP://LOCALHOST:9090", "http://127.0.0.1:9090@evil.example",
		"http://[::1]:9090", "http:/127.0.0.1:9090", "http://127.0.0.1:9090?x", "ws://127.0.0.1:9090"} {
		f.Add(s)
	}
	g := fuzzGuard()
	f.Fuzz(func(t *testing.T, o string) {
		if !g.sameOrigin([]byte(o)) {
			return
		}
		scheme, authority, ok := strings.Cut(o, "://")
		if !ok || !strings.EqualFold(scheme, "http") || !allowedByURL(g, "http", authority) {
			t.Fatalf("the guard takes %q as its own origin", o)
		}
	})
}
