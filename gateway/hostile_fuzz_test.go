package gateway_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	. "github.com/govgate/govgate/gateway"
)

// FuzzHostileRequestTarget sends random request targets, Host values and methods through
// a running gateway (real policy, plain listener, raw socket client) to the raw provider,
// and checks the promise of DESIGN.md's "What the provider receives": either the request
// was refused, or the provider received exactly the target the gateway decided — the
// client's origin-form target (or the path and query of its absolute form), on a route
// prefix however a server decodes it, with no ';', no dot segments in any encoding, no
// encoded separators — with the pool's Host and a method the route's mode allows.
//
//	go test -run '^$' -fuzz FuzzHostileRequestTarget -fuzztime 60s ./gateway
func FuzzHostileRequestTarget(f *testing.F) {
	for _, target := range confusingTargets {
		f.Add("GET", target, "gw")
	}
	for _, target := range []string{
		"/tiles/v1/a.png", "/tax/v1/taxpayers?id=1", "/tiles/v1/%E4%B8%AD", "/tiles/v1/pers%6Fns",
		"http://gw/tiles/a.png", "http://GW/tax/v1/x?y=/../z", "/tiles/v1/a!$&'()*+,=:@/",
	} {
		f.Add("GET", target, "gw")
	}
	for _, host := range []string{"tax.internal", "evil.example:8080", "127.0.0.1", "[::1]:80", "", "gw\x00x", "a@b"} {
		f.Add("GET", "/tiles/v1/a.png", host)
	}
	for _, method := range []string{"TRACE", "trace", "TRACK", "CONNECT", "DELETE", "PUT", "PATCH", "OPTIONS", "POST", "HEAD", "get"} {
		f.Add(method, "/tax/v1/taxpayers/1", "gw")
	}
	g, rp := startHostile(f, func([]byte) string {
		return rawResponse(200, []string{"Content-Type: application/json"}, taxpayerJSON)
	})
	c := &fuzzClient{addr: strings.TrimPrefix(g.base, "http://")}
	f.Cleanup(c.close)

	f.Fuzz(func(t *testing.T, method, target, host string) {
		if method == "" || len(target) > 4096 || len(host) > 256 ||
			strings.ContainsAny(method, " \t\r\n:") || strings.ContainsAny(target+host, "\r\n") {
			return // would not frame as one request line and one Host field
		}
		before := rp.count()
		status, err := c.roundTrip(method, target, host)
		after := rp.count()
		switch {
		case after == before:
			if err == nil && status == 200 && !strings.HasPrefix(target, CatalogPath) {
				t.Fatalf("%s %q Host %q: 200 with nothing forwarded", method, target, host)
			}
			return // refused
		case after > before+1:
			t.Fatalf("%s %q: one request reached the provider %d times", method, target, after-before)
		}
		checkDecided(t, method, target, rp.last(), rp.addr)
	})
}

// checkDecided is the oracle, written apart from the gateway's own checks: it decodes the
// path the provider received the way a server would and looks for any reading in which it
// names another route, or holds a parameter, a dot segment or an encoded separator.
func checkDecided(t *testing.T, method, target string, got []byte, providerAddr string) {
	t.Helper()
	line, _, _ := rawHead(got)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s %q reached the provider as %q: %s", method, target, line, fmt.Sprintf(format, args...))
	}
	parts := strings.Split(line, " ")
	if len(parts) != 3 || parts[2] != "HTTP/1.1" {
		fail("not one request line")
	}
	if !slices.Contains([]string{"GET", "HEAD", "POST"}, parts[0]) || parts[0] != method {
		fail("method %q is not one the query mode allows, or not the one sent", parts[0])
	}
	uri := parts[1]
	if want := originForm(target); uri != want {
		fail("target %q, want %q", uri, want)
	}
	if v := rawHeaderValues(got, "host"); len(v) != 1 || v[0] != providerAddr {
		fail("Host %q, want the pool's %s", v, providerAddr)
	}
	for i := 0; i < len(uri); i++ {
		if uri[i] <= ' ' || uri[i] >= 0x7f || uri[i] == '#' {
			fail("byte %#x in the target", uri[i])
		}
	}
	path, _, _ := strings.Cut(uri, "?")
	if strings.Contains(path, ";") {
		fail("a path parameter")
	}
	dec, err := url.PathUnescape(path)
	if err != nil {
		fail("the path does not decode: %v", err)
	}
	if strings.ContainsAny(dec, ";\\%") || strings.Count(dec, "/") != strings.Count(path, "/") {
		fail("an encoded ';', '\\', '%%' or '/': decoded %q", dec)
	}
	if !utf8.ValidString(dec) {
		fail("decoded path %q is not UTF-8", dec)
	}
	for _, r := range dec {
		if r >= utf8.RuneSelf && (r < 0x3400 || r > 0x9fff) || unicode.IsSpace(r) || unicode.IsControl(r) {
			fail("rune %U in the decoded path", r)
		}
	}
	segs := strings.Split(dec, "/")[1:]
	for i, seg := range segs {
		if seg == "" && i != len(segs)-1 || strings.HasSuffix(seg, ".") {
			fail("segment %q (decoded %q)", seg, dec)
		}
	}
	if r := fuzzRouteOf(path); r == "" || fuzzRouteOf(dec) != r {
		fail("routed as %q raw, %q decoded", r, fuzzRouteOf(dec))
	}
}

// originForm is what the provider should receive for target: itself in origin form, or
// the path and query of an absolute-form target.
func originForm(target string) string {
	if strings.HasPrefix(target, "/") {
		return target
	}
	_, rest, ok := strings.Cut(target, "://")
	if !ok {
		return "\x00not forwardable"
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return "\x00not forwardable"
}

// fuzzRouteOf names the route prefix of startPolicyGateway's config a path lies under.
func fuzzRouteOf(path string) string {
	for _, p := range []string{"/population/v1", "/tax/v1", "/tiles", "/cases"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return p
		}
	}
	return ""
}

// fuzzClient keeps one keep-alive connection to the gateway across fuzz inputs (a fresh
// one each would run the host out of ports) and dials again after anything unusual.
type fuzzClient struct {
	addr string
	conn net.Conn
	r    *bufio.Reader
}

func (c *fuzzClient) roundTrip(method, target, host string) (int, error) {
	if c.conn == nil {
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			return 0, err
		}
		c.conn, c.r = conn, bufio.NewReader(conn)
	}
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	req := method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" +
		"X-Test-Dept: 110000-rensheju\r\nX-Test-Signed: 1\r\nX-Govgate-Purpose: social-insurance-check\r\nContent-Length: 0\r\n\r\n"
	if _, err := io.WriteString(c.conn, req); err != nil {
		c.close()
		return 0, err
	}
	resp, err := http.ReadResponse(c.r, &http.Request{Method: method})
	if err != nil {
		c.close()
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) || resp.Close || method != "GET" {
		c.close() // after HEAD or an odd method, do not trust the framing of what follows
	}
	return resp.StatusCode, err
}

func (c *fuzzClient) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}
