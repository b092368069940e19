package gateway_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	. "github.com/govgate/govgate/gateway"
)

// Route confusion and unauthorised methods: a request target that a provider's server
// (Tomcat, Spring, Jetty, IIS, nginx, Apache, Go, Node) could decode, normalise or split
// into another resource than the one the gateway routed on, a Host that picks another
// virtual host at the provider, and methods that no sharing mode grants.

// renshejuHead is the header block of an allowed consumer of tax.registration, for raw
// requests: without the refusal under test, these requests would be served.
const renshejuHead = "Host: gw\r\nX-Test-Dept: 110000-rensheju\r\nX-Test-Signed: 1\r\nX-Govgate-Purpose: social-insurance-check\r\n"

// confusingTargets are request targets routed (without a fix) as the public, opaque tiles
// resource, that some server reads as the tax record or as another path than the one
// routed. Each names the server family that reads it differently.
var confusingTargets = []string{
	"/tiles/v1/..;/..;/tax/v1/taxpayers/1",          // Tomcat, Spring, Jetty: ';' starts a path parameter
	"/tiles/v1;jsessionid=1/a.png",                  // path parameter anywhere
	"/tiles/v1/..%3b/..%3B/tax/v1/taxpayers/1",      // encoded ';', decoded before the split
	"/tiles/v1/%c0%ae%c0%ae/%c0%ae%c0%ae/tax/v1/x",  // overlong UTF-8 '.' (Tomcat < 8, IIS)
	"/tiles/v1/%C0%AE%C0%AE/tax/v1/x",               // the same, upper case
	"/tiles/v1/%e0%80%ae%e0%80%ae/tax/v1/x",         // three-byte overlong '.'
	"/tiles/v1/%c0%af../tax/v1/x",                   // overlong '/'
	"/tiles/v1/\xef\xbc\x8e\xef\xbc\x8e/tax/v1/x",   // raw full-width dots (U+FF0E, NFKC '.')
	"/tiles/v1/%EF%BC%8E%EF%BC%8E/tax/v1/x",         // encoded full-width dots
	"/tiles/v1/%ef%bc%8f..%ef%bc%8ftax",             // full-width solidus (U+FF0F, NFKC '/')
	"/tiles/v1/%EF%BC%BC..%EF%BC%BCtax",             // full-width reverse solidus
	"/tiles/v1/%E2%80%A4%E2%80%A4/tax/v1/x",         // one dot leader (U+2024, NFKC '.')
	"/tiles/v1/%E2%80%A5/tax/v1/x",                  // two dot leader (U+2025, NFKC '..')
	"/tiles/v1/%EF%B9%92%EF%B9%92/tax/v1/x",         // small full stop (U+FE52, NFKC '.')
	"/tiles/v1/%E2%88%95..%E2%88%95tax",             // division slash (U+2215, Windows best fit '/')
	"/tiles/v1/%C2%A0../tax/v1/x",                   // no-break space
	"/tiles/v1/%20../tax/v1/taxpayers/1",            // space before dots (trimmed by some)
	"/tiles/v1/..%20/tax/v1/taxpayers/1",            // space after dots (IIS strips it)
	"/tiles/v1/..%09/tax/v1/taxpayers/1",            // tab
	"/tiles/v1/%09../tax/v1/taxpayers/1",            // tab before
	"/tiles/v1/..%0a/tax/v1/taxpayers/1",            // line feed
	"/tiles/v1/..%0d/tax/v1/taxpayers/1",            // carriage return
	"/tiles/v1/..%0B/tax/v1/taxpayers/1",            // vertical tab
	"/tiles/v1/..%7f/tax/v1/taxpayers/1",            // DEL
	"/tiles/v1/.../tax/v1/taxpayers/1",              // IIS strips trailing dots: "..."
	"/tiles/v1/a./b",                                // trailing dot (IIS: "a")
	"/tiles/v1/%u002e%u002e/tax/v1/x",               // IIS %u encoding
	"/tiles/v1/%uff0e%uff0e/tax/v1/x",               // IIS %u, full-width dot
	"/tiles/v1/%2e%2e/%2e%2e/tax/v1/x",              // encoded dots
	"/tiles/v1/.%2e/tax/v1/x",                       // half encoded
	"/tiles/v1/%252e%252e/tax/v1/x",                 // double encoded
	"/tiles/v1/%25c0%25ae/tax/v1/x",                 // double encoded overlong
	"/tiles/v1/..%2f..%2ftax/v1/x",                  // encoded slash
	"/tiles/v1/..%5c..%5ctax/v1/x",                  // encoded backslash (IIS, Node)
	"/tiles/v1/..\\..\\tax/v1/x",                    // raw backslash
	"/tiles/v1/x%3f/../../tax/v1/x",                 // encoded '?' (a proxy re-using the decoded path splits there)
	"/tiles/v1/x%23/../../tax/v1/x",                 // encoded '#'
	"/tiles/v1/x#/../../tax/v1/taxpayers/1",         // a fragment in a request target
	"/tiles/v1/\x80/a",                              // raw non-ASCII byte
	"/tiles/v1/%80/a",                               // encoded lone continuation byte
	"/tiles/v1/%ff/a",                               // never valid in UTF-8
	"/tiles/v1/%E4%B8/a",                            // truncated UTF-8
	"/tiles/v1/%ED%A0%80/a",                         // UTF-8 surrogate
	"/tiles/v1/%F0%9F%98%80/a",                      // outside the ideographs the rule admits
	"/tiles/v1/a%",                                  // invalid escapes
	"/tiles/v1/a%4",                                 //
	"/tiles/v1/a%g0",                                //
	"/tiles/v1/a%5B0%5D",                            // encoded bytes that may not stand in a path
	"/tiles/v1/a\"b",                                // raw bytes that may not stand in a path
	"/tiles/v1/a<b>",                                //
	"/tiles/v1/a|b",                                 //
	"/tiles/v1/a{b}",                                //
	"/tiles/v1/a^b",                                 //
	"/tiles/v1/a`b",                                 //
	"/tiles//tax/v1/x",                              // empty segment (nginx merge_slashes)
	"http://gw/tiles/v1/..;/..;/tax/v1/taxpayers/1", // absolute form, same attack
	"http://other.example/tiles/a.png",              // absolute form naming another host than Host
	"http://gw@other.example/tiles/a.png",           // userinfo in the authority
	"https://other.example:443/tiles/a.png",         //
	"ftp://gw/tiles/a.png",                          // not an http target
	"*",                                             // asterisk form
	"tiles/a.png",                                   // no leading slash
	"/tiles/a.png?x=1#frag",                         // a fragment after the query
}

// parserRefused are the targets fasthttp itself cannot parse: refused before the pipeline,
// as bad_request, and audited all the same.
var parserRefused = map[string]bool{"*": true, "tiles/a.png": true}

func TestHostileRouteConfusionRefused(t *testing.T) {
	g, rp := startHostile(t, func([]byte) string {
		return rawResponse(200, []string{"Content-Type: application/json"}, taxpayerJSON)
	})
	for _, target := range confusingTargets {
		c := dialRaw(t, g.base)
		resp, body := c.roundTrip(t, "GET "+target+" HTTP/1.1\r\n"+renshejuHead+"\r\n")
		want := "ambiguous_path"
		if parserRefused[target] {
			want = "bad_request"
		}
		if resp.StatusCode != 400 {
			t.Errorf("%q: status %d %s", target, resp.StatusCode, body)
			continue
		}
		if code := errorCode(t, body); code != want {
			t.Errorf("%q: code %s, want %s", target, code, want)
		}
		if e := g.audit.last(); e.code != want || e.status != 400 {
			t.Errorf("%q: audited as %+v", target, e)
		}
	}
	if n := rp.count(); n != 0 {
		t.Errorf("%d confusing requests reached the provider; last:\n%s", n, rp.last())
	}
}

// TestHostileRouteCleanTargets checks the other side of the rule: the spellings it admits
// are forwarded byte for byte, routed on exactly what the provider receives.
func TestHostileRouteCleanTargets(t *testing.T) {
	g, rp := startHostile(t, nil)
	for _, target := range []string{
		"/tiles/v1/12/3401/1555.png",
		"/tiles/v1/a.b-c_d~e/f",
		"/tiles/v1/a!$&'()*+,=:@/",
		"/tiles/v1/%E4%B8%AD%E5%9B%BD/x",        // 中国: ideographs, upper-case hex
		"/tiles/v1/%21",                         // an encoded sub-delimiter decodes to itself in any server
		"/tiles/v1/x?path=/../../tax/v1/&a=%2e", // the query is not the path
		"/tiles",
	} {
		c := dialRaw(t, g.base)
		resp, body := c.roundTrip(t, "GET "+target+" HTTP/1.1\r\nHost: gw\r\nX-Test-Dept: 110000-rensheju\r\n\r\n")
		if resp.StatusCode != 200 {
			t.Errorf("%q: status %d %s", target, resp.StatusCode, body)
			continue
		}
		if line, _, _ := rawHead(rp.last()); line != "GET "+target+" HTTP/1.1" {
			t.Errorf("%q: provider received %q", target, line)
		}
	}
}

// TestHostileHostIsThePools: the provider receives the Host of the pool, never the client's,
// so a provider that picks its resource by Host (nginx server_name) serves the one routed.
func TestHostileHostIsThePools(t *testing.T) {
	g, rp := startHostile(t, nil)
	for _, host := range []string{"gw", "tax.internal", "tax.internal:8080", "127.0.0.1", rp.addr, "a b", ""} {
		c := dialRaw(t, g.base)
		resp, _ := c.roundTrip(t, "GET /tiles/v1/a.png HTTP/1.1\r\nHost: "+host+"\r\nX-Test-Dept: 110000-rensheju\r\n\r\n")
		if resp.StatusCode != 200 {
			// A Host the server cannot parse may be refused; it must not be forwarded.
			continue
		}
		if v := rawHeaderValues(rp.last(), "host"); len(v) != 1 || v[0] != rp.addr {
			t.Errorf("client Host %q: provider received Host %q, want the member address %s", host, v, rp.addr)
		}
	}
	// Absolute form: forwarded in origin form, with the pool's Host.
	c := dialRaw(t, g.base)
	resp, body := c.roundTrip(t, "GET http://gw/tiles/v1/a.png?z=1 HTTP/1.1\r\nHost: gw\r\nX-Test-Dept: 110000-rensheju\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("absolute form: status %d %s", resp.StatusCode, body)
	}
	if line, _, _ := rawHead(rp.last()); line != "GET /tiles/v1/a.png?z=1 HTTP/1.1" {
		t.Errorf("absolute form forwarded as %q", line)
	}
	if v := rawHeaderValues(rp.last(), "host"); len(v) != 1 || v[0] != rp.addr {
		t.Errorf("absolute form: provider received Host %q", v)
	}
}

// TestHostilePoolHost: a pool's configured host is what its provider receives.
func TestHostilePoolHost(t *testing.T) {
	g, rp := startHostile(t, nil, func(_ string, s *gatewaySetup) {
		s.config = func(cfg *Config) { cfg.Pools[0].Host = "tiles.ghzrzyw.internal" }
	})
	status, _, body := do(t, "GET", g.base+"/tiles/v1/a.png", "", with(rensheju, "Host", "tax.shuiwu.internal"))
	if status != 200 {
		t.Fatalf("status %d %s", status, body)
	}
	if v := rawHeaderValues(rp.last(), "host"); len(v) != 1 || v[0] != "tiles.ghzrzyw.internal" {
		t.Errorf("provider received Host %q, want the pool's", v)
	}
}

// TestHostileTraceConnectRefused: TRACE (and IIS's TRACK) would echo the pool's injected
// credential back to the consumer; CONNECT would make the gateway a tunnel. Neither is
// forwarded, in any case of letters, and each refusal is audited.
func TestHostileTraceConnectRefused(t *testing.T) {
	g, rp := startHostile(t, func(req []byte) string {
		return rawResponse(200, []string{"Content-Type: message/http"}, string(req)) // an echoing provider
	}, func(_ string, s *gatewaySetup) {
		s.config = func(cfg *Config) { cfg.Pools[0].Headers = map[string]string{"Authorization": "Bearer pool-secret"} }
	})
	for _, c := range []struct {
		line   string
		status int
		code   string
	}{
		{"TRACE /tax/v1/taxpayers/1", 405, "method_not_allowed"},
		{"TRACE /tiles/a.png", 405, "method_not_allowed"},
		{"trace /tiles/a.png", 405, "method_not_allowed"},
		{"TRACK /tiles/a.png", 405, "method_not_allowed"},
		{"Trace /tiles/a.png", 405, "method_not_allowed"},
		{"TRACE /tiles/v1/..;/..;/tax/v1/taxpayers/1", 405, "method_not_allowed"},
		{"CONNECT gw:443", 405, "method_not_allowed"},
		{"CONNECT /tiles/a.png", 405, "method_not_allowed"},
		// fasthttp reads an authority-form target only with CONNECT in capitals.
		{"connect gw:443", 400, "bad_request"},
	} {
		line := c.line
		conn := dialRaw(t, g.base)
		resp, body := conn.roundTrip(t, line+" HTTP/1.1\r\n"+renshejuHead+"\r\n")
		if strings.Contains(string(body), "pool-secret") {
			t.Errorf("%s: the pool's credential reached the consumer", line)
		}
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d %s", line, resp.StatusCode, body)
			continue
		}
		if code := errorCode(t, body); code != c.code {
			t.Errorf("%s: code %s", line, code)
		}
		if e := g.audit.last(); e.code != c.code || e.status != c.status {
			t.Errorf("%s: audited as %+v", line, e)
		}
	}
	if n := rp.count(); n != 0 {
		t.Errorf("%d requests reached the provider; last:\n%s", n, rp.last())
	}
}

// TestHostileMethodNotAuthorised: a query agreement lets the consumer read, not change or
// delete, the provider's data. The method is the policy's call, with its own reason code.
func TestHostileMethodNotAuthorised(t *testing.T) {
	g, rp := startHostile(t, func(req []byte) string {
		if bytes.HasPrefix(req, []byte("HEAD ")) {
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(taxpayerJSON))
		}
		return rawResponse(200, []string{"Content-Type: application/json"}, taxpayerJSON)
	})
	for _, method := range []string{"DELETE", "PUT", "PATCH", "OPTIONS", "PROPFIND", "get", "MKCOL"} {
		c := dialRaw(t, g.base)
		resp, body := c.roundTrip(t, method+" /tax/v1/taxpayers/1 HTTP/1.1\r\n"+renshejuHead+"Content-Length: 2\r\n\r\n{}")
		if resp.StatusCode != 403 {
			t.Errorf("%s: status %d %s", method, resp.StatusCode, body)
			continue
		}
		if codes := strings.Join(reasonCodes(t, body), ","); !strings.Contains(codes, "METHOD_NOT_ALLOWED") {
			t.Errorf("%s: reasons %s", method, codes)
		}
	}
	if n := rp.count(); n != 0 {
		t.Fatalf("%d requests reached the provider; last:\n%s", n, rp.last())
	}
	// The methods of a query are allowed: GET, HEAD, and POST for a lookup by body.
	for _, method := range []string{"GET", "HEAD", "POST"} {
		status, _, body := do(t, method, g.base+"/tax/v1/taxpayers", `{"id":"1"}`, rensheju)
		if status != 200 {
			t.Errorf("%s: status %d %s", method, status, body)
		}
		if line, _, _ := rawHead(rp.last()); !strings.HasPrefix(line, method+" /tax/v1/taxpayers ") {
			t.Errorf("%s: provider received %q", method, line)
		}
	}
}

// TestPoolHostValidation: the host a pool sends is checked at load, and two resources may
// not reach one provider under the same Host on overlapping paths, where the provider
// could not tell them apart.
func TestPoolHostValidation(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*Config)
		want   string // "" means valid
	}{
		{"default host", func(*Config) {}, ""},
		{"host name", func(c *Config) { c.Pools[0].Host = "population.gongan.internal" }, ""},
		{"host and port", func(c *Config) { c.Pools[0].Host = "population.gongan.internal:8443" }, ""},
		{"ip literal", func(c *Config) { c.Pools[0].Host = "[fd00::1]:80" }, ""},
		{"space", func(c *Config) { c.Pools[0].Host = "a b" }, "pools[0].host"},
		{"path", func(c *Config) { c.Pools[0].Host = "a/b" }, "pools[0].host"},
		{"userinfo", func(c *Config) { c.Pools[0].Host = "u@a" }, "pools[0].host"},
		{"crlf", func(c *Config) { c.Pools[0].Host = "a\r\nX-Evil: 1" }, "pools[0].host"},
		{"same address, same host, different resources, same paths behind different route hosts", func(c *Config) {
			c.Routes[0].Host = "a.gw"
			c.Pools = append(c.Pools, Pool{ID: "other", Addresses: c.Pools[0].Addresses})
			c.Routes = append(c.Routes, Route{ID: "other", Host: "b.gw", PathPrefix: "/population/v1", Resource: "tax.registration", Mode: ModeQuery, Pool: "other", TargetZone: ZoneInternal})
		}, "routes[1].pool"},
		{"same address, distinct hosts", func(c *Config) {
			c.Routes[0].Host = "a.gw"
			c.Pools = append(c.Pools, Pool{ID: "other", Host: "tax.internal", Addresses: c.Pools[0].Addresses})
			c.Routes = append(c.Routes, Route{ID: "other", Host: "b.gw", PathPrefix: "/population/v1", Resource: "tax.registration", Mode: ModeQuery, Pool: "other", TargetZone: ZoneInternal})
		}, ""},
		{"same pool, disjoint paths", func(c *Config) {
			c.Routes = append(c.Routes, Route{ID: "other", PathPrefix: "/tax/v1", Resource: "tax.registration", Mode: ModeQuery, Pool: "population", TargetZone: ZoneInternal})
		}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig("127.0.0.1:8080")
			c.change(cfg)
			cfg.ApplyDefaults()
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("want an error at %s, got %v", c.want, err)
			}
		})
	}
}

// TestRoutePrefixMustBeCanonical: a route prefix is held to the path rule, so that the
// literal comparison of the router is the comparison every provider would make.
func TestRoutePrefixMustBeCanonical(t *testing.T) {
	for _, p := range []string{"/tiles;v=1", "/tiles/%61", "/tiles/a.", "/tiles/%E4%B8%AD", "/tiles/a b"} {
		cfg := testConfig("127.0.0.1:8080")
		cfg.Routes[0].PathPrefix = p
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "path_prefix") {
			t.Errorf("prefix %q: %v", p, err)
		}
	}
}
