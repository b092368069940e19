package gateway_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"
)

// The contracts behind TestAttackRangeReroots, TestAttackHeadRevealsUnfilteredLength and
// TestAttackReadyzLeaksKeyStoreErrorToAnyHost, at their edges.

// TestRangeRemovedOnFilteredResource: Range and If-Range, in any case and repeated, never
// reach the provider of a filtered resource.
func TestRangeRemovedOnFilteredResource(t *testing.T) {
	g, rp := startHostile(t, func([]byte) string {
		return rawResponse(200, []string{"Content-Type: application/json"}, taxpayerJSON)
	})
	resp, body := dialRaw(t, g.base).roundTrip(t, rawTaxRequest(purposeLine,
		"range: bytes=0-10", "RANGE: bytes=5-9", "Range: bytes=1-2", "if-range: \"x\"", "If-Range: Wed, 21 Oct 2015 07:28:00 GMT"))
	if resp.StatusCode != 200 || strings.Contains(string(body), "bank_account") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	req := rp.last()
	for _, name := range []string{"Range", "If-Range"} {
		if v := rawHeaderValues(req, name); len(v) > 0 {
			t.Errorf("provider received %s %q", name, v)
		}
	}
}

// TestPartialResponseRefused: a provider that answers a part of its document on a filtered
// resource — 206 although no Range was forwarded, or Content-Range on a 200 — is refused.
func TestPartialResponseRefused(t *testing.T) {
	const nested = `{"name":"张三","id_number":"110101198001010011"}`
	for name, answer := range map[string]string{
		"206": "HTTP/1.1 206 Partial Content\r\nContent-Type: application/json\r\nContent-Range: bytes 10-59/200\r\n" +
			"Content-Length: " + itoa(len(nested)) + "\r\n\r\n" + nested,
		"206 without Content-Range": "HTTP/1.1 206 Partial Content\r\nContent-Type: application/json\r\n" +
			"Content-Length: " + itoa(len(nested)) + "\r\n\r\n" + nested,
		"200 with content-range": rawResponse(200, []string{"Content-Type: application/json", "content-range: bytes 10-59/200"}, nested),
	} {
		t.Run(name, func(t *testing.T) {
			g, _ := startHostile(t, func([]byte) string { return answer })
			status, _, body := do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", rensheju)
			if status != 502 || errorCode(t, body) != "release_refused" || !strings.Contains(string(body), "RESPONSE_PARTIAL") {
				t.Errorf("%d %s", status, body)
			}
			if strings.Contains(string(body), "张三") {
				t.Errorf("released the part: %s", body)
			}
		})
	}
}

// TestRangeKeptOnOpaqueResource: an opaque resource is released whole, bytes as sent, and
// keeps Range (bulk transfer resumes with it).
func TestRangeKeptOnOpaqueResource(t *testing.T) {
	g, rp := startHostile(t, func([]byte) string {
		return "HTTP/1.1 206 Partial Content\r\nContent-Type: image/png\r\nContent-Range: bytes 0-1/4\r\nContent-Length: 2\r\n\r\nab"
	})
	status, _, body := do(t, "GET", g.base+"/tiles/1", "", map[string]string{"X-Test-Dept": "110000-rensheju", "Range": "bytes=0-1"})
	if status != 206 || string(body) != "ab" {
		t.Fatalf("%d %q", status, body)
	}
	if v := rawHeaderValues(rp.last(), "Range"); len(v) != 1 || v[0] != "bytes=0-1" {
		t.Errorf("provider received Range %q", v)
	}
}

// readRawHead reads one response head (status line and fields) off the wire as it is,
// without a client library's reading of it.
func readRawHead(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the response head: %v (so far %q)", err, b.String())
		}
		b.WriteString(line)
		if line == "\r\n" {
			return b.String()
		}
	}
}

// TestBodilessReleaseCarriesNoUnfilteredLength: on the wire, a HEAD or a 304 on a filtered
// resource carries no length of the provider's unfiltered body (nor its coding), and the
// connection stays framed: the next request on it is answered.
func TestBodilessReleaseCarriesNoUnfilteredLength(t *testing.T) {
	full := itoa(len(taxpayerJSON))
	g, _ := startHostile(t, func(req []byte) string {
		switch {
		case strings.HasPrefix(string(req), "HEAD "):
			return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nETag: \"v1\"\r\nContent-Length: " + full + "\r\n\r\n"
		case len(rawHeaderValues(req, "X-Want-304")) > 0:
			// The consumer's If-None-Match never reaches the provider of a filtered
			// resource on a query route (TestValidatorsOfTheWholeDocumentWithheld); a
			// provider may still answer 304 on its own, which is refused
			// (NOT_MODIFIED_UNASKED, TestPublishCutProviderValidatorsHostile).
			return "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Type: application/json\r\nContent-Length: " + full + "\r\n\r\n"
		}
		return rawResponse(200, []string{"Content-Type: application/json"}, taxpayerJSON)
	})
	c, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	head := strings.Replace(rawTaxRequest(purposeLine), "GET ", "HEAD ", 1)
	cond := rawTaxRequest(purposeLine, "X-Want-304: 1")
	for _, step := range []struct{ name, req, status string }{{"HEAD", head, " 200 "}, {"unasked 304", cond, " 502 "}} {
		if _, err := io.WriteString(c, step.req); err != nil {
			t.Fatal(err)
		}
		h := readRawHead(t, r)
		if !strings.Contains(strings.SplitN(h, "\r\n", 2)[0], step.status) {
			t.Fatalf("%s: %q", step.name, h)
		}
		lower := strings.ToLower(h)
		if step.status == " 502 " {
			// The refusal's own JSON body is framed by its own length.
			if _, err := io.CopyN(io.Discard, r, int64(contentLength(t, h))); err != nil {
				t.Fatal(err)
			}
			lower = strings.Replace(lower, "content-length: ", "refusal-length: ", 1)
		}
		if strings.Contains(lower, "content-length") || strings.Contains(lower, "content-encoding") || strings.Contains(h, ": "+full+"\r\n") {
			t.Errorf("%s: the response head carries the unfiltered body's length or coding:\n%s", step.name, h)
		}
	}
	// Still framed: the next answer is the next response, not a leftover.
	resp, body := (&rawConn{Conn: c, r: r}).roundTrip(t, rawTaxRequest(purposeLine))
	if resp.StatusCode != 200 || strings.Contains(string(body), "bank_account") || !strings.Contains(string(body), "tax_status") {
		t.Errorf("GET after HEAD and 304: %d %s", resp.StatusCode, body)
	}
}

type fixedWarning string

func (w fixedWarning) Warning() string { return string(w) }

// TestReadyzDetailsOnlyToOwnHosts: /readyz answers any Host, but only the admin API's own
// hosts read the stages and warnings; another gets the status and {"ready":...}.
func TestReadyzDetailsOnlyToOwnHosts(t *testing.T) {
	const secret = "vault at http://10.20.30.40:8200, secret/data/govgate/tlcp-sign"
	up := startUpstream(t, nil)
	gw := startGateway(t, testConfig(up.addr), Options{Stages: Stages{Degraded: map[string]WarningReporter{"tlcp-keys": fixedWarning(secret)}}})
	_, port, _ := net.SplitHostPort(gw.AdminAddr().String())
	for _, tc := range []struct {
		host string
		own  bool
	}{
		{"127.0.0.1:" + port, true},
		{"localhost:" + port, true},
		{"evil.example:" + port, false},
		{"10.0.0.5:" + port, false},
		{"127.0.0.1:1", false},
	} {
		resp, body := dialRaw(t, gw.admin).roundTrip(t, "GET /readyz HTTP/1.1\r\nHost: "+tc.host+"\r\n\r\n")
		if resp.StatusCode != 200 {
			t.Errorf("Host %s: %d %s", tc.host, resp.StatusCode, body)
			continue
		}
		if tc.own {
			var r Readiness
			if err := json.Unmarshal(body, &r); err != nil || !r.Ready || r.Warnings["tlcp-keys"] != secret || r.Pools["population"].Members != 1 {
				t.Errorf("Host %s: the operator's readiness document is incomplete: %s", tc.host, body)
			}
			continue
		}
		var r map[string]any
		if err := json.Unmarshal(body, &r); err != nil || len(r) != 1 || r["ready"] != true {
			t.Errorf("Host %s: %s", tc.host, body)
		}
		hresp, hbody := dialRaw(t, gw.admin).roundTrip(t, "GET /healthz HTTP/1.1\r\nHost: "+tc.host+"\r\n\r\n")
		if hresp.StatusCode != 200 || string(hbody) != "ok\n" {
			t.Errorf("Host %s: /healthz %d %q", tc.host, hresp.StatusCode, hbody)
		}
	}
	// The absolute-form target is held to the same names.
	resp, body := dialRaw(t, gw.admin).roundTrip(t, "GET http://evil.example:"+port+"/readyz HTTP/1.1\r\nHost: 127.0.0.1:"+port+"\r\n\r\n")
	if resp.StatusCode != 200 || strings.Contains(string(body), "10.20.30.40") {
		t.Errorf("absolute-form target for another host: %d %s", resp.StatusCode, body)
	}
}

// TestValidatorsOfTheWholeDocumentWithheld: a provider's ETag and Last-Modified describe
// the whole document, withheld fields included, and If-None-Match against them answers
// 304 or 200 by whether any of those fields changed. On a filtered resource the
// consumer's If-None-Match and If-Modified-Since never reach the provider, and the
// provider's validators (in any case) never reach the consumer. An opaque resource keeps
// both.
func TestValidatorsOfTheWholeDocumentWithheld(t *testing.T) {
	g, rp := startHostile(t, func(req []byte) string {
		if len(rawHeaderValues(req, "If-None-Match")) > 0 {
			return "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n"
		}
		return rawResponse(200, []string{"Content-Type: application/json", "etag: \"v1\"", "LAST-MODIFIED: Wed, 21 Oct 2015 07:28:00 GMT"}, taxpayerJSON)
	})
	resp, body := dialRaw(t, g.base).roundTrip(t, rawTaxRequest(purposeLine,
		"if-none-match: \"v1\"", "If-Modified-Since: Wed, 21 Oct 2015 07:28:00 GMT"))
	if resp.StatusCode != 200 || strings.Contains(string(body), "bank_account") {
		t.Fatalf("conditional GET of a filtered resource: %d %s", resp.StatusCode, body)
	}
	for _, name := range []string{"If-None-Match", "If-Modified-Since"} {
		if v := rawHeaderValues(rp.last(), name); len(v) > 0 {
			t.Errorf("provider received %s %q", name, v)
		}
	}
	for _, name := range []string{"ETag", "Last-Modified"} {
		if v := resp.Header.Values(name); len(v) > 0 {
			t.Errorf("consumer received the provider's %s %q", name, v)
		}
	}

	// Opaque: validators and conditionals pass, a 304 included.
	rp.setAnswer(func(req []byte) string {
		if len(rawHeaderValues(req, "If-None-Match")) > 0 {
			return "HTTP/1.1 304 Not Modified\r\nETag: \"t1\"\r\n\r\n"
		}
		return rawResponse(200, []string{"Content-Type: image/png", "ETag: \"t1\""}, "png")
	})
	status, h, _ := do(t, "GET", g.base+"/tiles/1", "", map[string]string{"X-Test-Dept": "110000-rensheju"})
	if status != 200 || h.Get("ETag") != `"t1"` {
		t.Errorf("opaque resource: %d ETag %q", status, h.Get("ETag"))
	}
	status, _, _ = do(t, "GET", g.base+"/tiles/1", "", map[string]string{"X-Test-Dept": "110000-rensheju", "If-None-Match": `"t1"`})
	if status != 304 {
		t.Errorf("opaque conditional GET: %d, want 304", status)
	}
}

// contentLength is the Content-Length of a raw response head.
func contentLength(t *testing.T, head string) int {
	t.Helper()
	for _, l := range strings.Split(head, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Content-Length") {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("Content-Length %q", v)
			}
			return n
		}
	}
	t.Fatalf("no Content-Length in %q", head)
	return 0
}
