package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	. "github.com/govgate/govgate/gateway"
)

// Hostile header traffic: names in any case, duplicates, fields nominated hop-by-hop by a
// Connection header, and the headers a client or provider adds that the other side would
// trust. Each test asserts the refusal and what reached (or did not reach) the other side.

// rawTaxRequest is an allowed consumer's GET on the tax route with extra header lines
// exactly as given.
func rawTaxRequest(extra ...string) string {
	var b strings.Builder
	b.WriteString("GET /tax/v1/taxpayers?id=1 HTTP/1.1\r\nHost: gw\r\nX-Test-Dept: 110000-rensheju\r\nX-Test-Signed: 1\r\n")
	for _, h := range extra {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

const purposeLine = "X-Govgate-Purpose: social-insurance-check"

// taxRequests counts the exchanges (not health probes) the provider received.
func taxRequests(rp *rawProvider) int {
	n := 0
	for _, r := range rp.requests() {
		if line, _, _ := rawHead(r); strings.Contains(line, "/tax/v1") {
			n++
		}
	}
	return n
}

// answerWith scripts a provider answering every request with the taxpayer JSON and the
// given header lines.
func answerWith(headers ...string) func([]byte) string {
	return func([]byte) string {
		return rawResponse(200, append([]string{"Content-Type: application/json"}, headers...), taxpayerJSON)
	}
}

// assertRefused checks a refusal's status, code and reason, and that no taxpayer data
// and no label leaked with it.
func assertRefused(t *testing.T, what string, resp *http.Response, body []byte, status int, code, reason string) {
	t.Helper()
	if resp.StatusCode != status || errorCode(t, body) != code {
		t.Errorf("%s: %d %s, want %d %s", what, resp.StatusCode, body, status, code)
		return
	}
	if reason != "" && strings.Join(reasonCodes(t, body), ",") != reason {
		t.Errorf("%s: reasons %v, want %s", what, reasonCodes(t, body), reason)
	}
	if strings.Contains(string(body), "北京数联") || strings.Contains(string(body), "91110108") {
		t.Errorf("%s: provider data in the refusal: %s", what, body)
	}
	if v := resp.Header.Values(HeaderClassification); len(v) != 0 {
		t.Errorf("%s: refusal carries label %q", what, v)
	}
}

// TestHostileResponseLabel: the provider's label is read in any case, exactly once, and
// only as one known label; anything else is refused, never replaced by the catalog default.
func TestHostileResponseLabel(t *testing.T) {
	g, rp := startHostile(t, nil)
	c := dialRaw(t, g.base)
	for name, tc := range map[string]struct {
		headers []string
		status  int
		label   string // when released
		reason  string // when refused
	}{
		"absent: catalog default": {nil, 200, "internal", ""},
		// A label below the catalog's is raised to it (policy.Decision.ReleasedLabel); the
		// secret cases below show that the provider's label is read in any case.
		"canonical":                   {[]string{"X-Classification: public"}, 200, "internal", ""},
		"lower case released":         {[]string{"x-classification: public"}, 200, "internal", ""},
		"surrounding whitespace":      {[]string{"X-Classification: \t internal \t"}, 200, "internal", ""},
		"lower case secret":           {[]string{"x-classification: secret"}, 403, "", "LABEL_ABOVE_CEILING"},
		"upper case secret":           {[]string{"X-CLASSIFICATION: secret"}, 403, "", "LABEL_ABOVE_CEILING"},
		"space before colon":          {[]string{"X-Classification : secret"}, 403, "", ""},
		"internal then secret":        {[]string{"X-Classification: internal", "X-Classification: secret"}, 403, "", "LABEL_AMBIGUOUS"},
		"same label twice":            {[]string{"X-Classification: internal", "x-classification: internal"}, 403, "", "LABEL_AMBIGUOUS"},
		"nominated hop-by-hop":        {[]string{"Connection: X-Classification", "X-Classification: secret"}, 403, "", "LABEL_AMBIGUOUS"},
		"nominated, lower case":       {[]string{"connection: keep-alive, x-classification", "X-Classification: public"}, 403, "", "LABEL_AMBIGUOUS"},
		"nominated, no label":         {[]string{"Connection: x-CLASSIFICATION"}, 403, "", "LABEL_AMBIGUOUS"},
		"empty":                       {[]string{"X-Classification:"}, 403, "", "LABEL_AMBIGUOUS"},
		"comma list":                  {[]string{"X-Classification: internal, secret"}, 403, "", "LABEL_UNKNOWN"},
		"comma list of one":           {[]string{"X-Classification: internal,"}, 403, "", "LABEL_UNKNOWN"},
		"mixed case label":            {[]string{"X-Classification: Internal"}, 403, "", "LABEL_UNKNOWN"},
		"quoted label":                {[]string{`X-Classification: "internal"`}, 403, "", "LABEL_UNKNOWN"},
		"label with parameters":       {[]string{"X-Classification: internal; q=1"}, 403, "", "LABEL_UNKNOWN"},
		"label and obs-fold":          {[]string{"X-Classification: internal", " secret"}, 403, "", ""},
		"label in a trailer-ish name": {[]string{"X-Classification-Override: public", "X-Classification: secret"}, 403, "", "LABEL_ABOVE_CEILING"},
	} {
		rp.setAnswer(answerWith(tc.headers...))
		resp, body := c.roundTrip(t, rawTaxRequest(purposeLine))
		if tc.status != 200 {
			if resp.StatusCode == 200 {
				t.Errorf("%s: released: %v %s", name, resp.Header, body)
				continue
			}
			if resp.StatusCode != 403 && resp.StatusCode != 502 {
				t.Errorf("%s: status %d: %s", name, resp.StatusCode, body)
			}
			assertRefused(t, name, resp, body, resp.StatusCode, errorCode(t, body), tc.reason)
			if resp.Close {
				c = dialRaw(t, g.base)
			}
			continue
		}
		if resp.StatusCode != 200 || !strings.Contains(string(body), "tax_status") {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
			continue
		}
		if v := resp.Header.Values(HeaderClassification); len(v) != 1 || v[0] != tc.label {
			t.Errorf("%s: consumer received labels %q, want exactly [%s]", name, v, tc.label)
		}
		if resp.Close {
			c = dialRaw(t, g.base)
		}
	}
}

// TestHostileResponseHopByHop: hop-by-hop fields in any case, and whatever a Connection
// header in any case names, never reach the consumer.
func TestHostileResponseHopByHop(t *testing.T) {
	g, _ := startHostile(t, answerWith(
		"keep-alive: timeout=5", "upgrade: h2c", "proxy-authenticate: Basic realm=x",
		"connection: x-hop, cache-control", "x-hop: 1", "Cache-Control: no-store",
		"proxy-connection: keep-alive", "te: trailers", "Trailer: X-Later",
	))
	c := dialRaw(t, g.base)
	resp, body := c.roundTrip(t, rawTaxRequest(purposeLine))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for _, name := range []string{"Keep-Alive", "Upgrade", "Proxy-Authenticate", "X-Hop", "Proxy-Connection", "Te", "Trailer", "Cache-Control"} {
		if v := resp.Header.Values(name); len(v) != 0 {
			t.Errorf("consumer received %s: %q", name, v)
		}
	}
	if v := resp.Header.Values("Connection"); len(v) != 0 && !(len(v) == 1 && strings.EqualFold(v[0], "keep-alive")) {
		t.Errorf("consumer received the provider's Connection: %q", v)
	}
	if resp.Close {
		t.Error("the provider's connection options closed the consumer's connection")
	}
}

// TestHostileResponseHeaderAllowlist: only content and caching fields of the provider's
// response reach the consumer, plus what the route adds; the gateway's own fields are the
// gateway's, whatever the provider claims.
func TestHostileResponseHeaderAllowlist(t *testing.T) {
	g, _ := startHostile(t, answerWith(
		"Set-Cookie: session=provider; Path=/", "set-cookie: track=1", "Server: Apache/2.2.3 (CentOS)",
		"X-Debug-Trace: SELECT * FROM taxpayers", "x-powered-by: PHP/5.4", "Location: http://10.0.0.7/admin",
		"Strict-Transport-Security: max-age=0", "Access-Control-Allow-Origin: *", "WWW-Authenticate: Basic",
		"X-Govgate-Receipt: forged", "x-request-id: forged", "X-GOVGATE-SIGNED: sm2-sm3",
		"cache-control: private, max-age=60", "ETag: \"v1\"", "Last-Modified: Tue, 01 Dec 2026 00:00:00 GMT",
		"Vary: Accept-Encoding", "content-language: zh-CN", "Expires: Wed, 02 Dec 2026 00:00:00 GMT",
		"x-total-count: 1", "X-Rate-Limit: 9",
	), func(_ string, s *gatewaySetup) {
		s.config = func(c *Config) {
			for i := range c.Routes {
				if c.Routes[i].ID == "tax-query" {
					c.Routes[i].ResponseHeaders = []string{"X-Total-Count"}
				}
			}
		}
	})
	c := dialRaw(t, g.base)
	resp, body := c.roundTrip(t, rawTaxRequest(purposeLine))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if v := resp.Header.Values("Server"); len(v) > 1 || len(v) == 1 && v[0] != "govgate" {
		t.Errorf("consumer received the provider's Server: %q", v)
	}
	// ETag and Last-Modified are on the allowlist, but describe the whole document: a
	// filtered resource (this one) withholds them (TestValidatorsOfTheWholeDocumentWithheld).
	for _, name := range []string{"Set-Cookie", "X-Debug-Trace", "X-Powered-By", "Location",
		"Strict-Transport-Security", "Access-Control-Allow-Origin", "WWW-Authenticate", "X-Govgate-Signed", "X-Rate-Limit",
		"ETag", "Last-Modified"} {
		if v := resp.Header.Values(name); len(v) != 0 {
			t.Errorf("consumer received %s: %q", name, v)
		}
	}
	for name, want := range map[string]string{
		"Cache-Control": "private, max-age=60",
		"Vary":          "Accept-Encoding", "Content-Language": "zh-CN", "Expires": "Wed, 02 Dec 2026 00:00:00 GMT",
		"X-Total-Count": "1", "Content-Type": "application/json",
	} {
		if v := resp.Header.Values(name); len(v) != 1 || v[0] != want {
			t.Errorf("consumer received %s %q, want %q", name, v, want)
		}
	}
	if v := resp.Header.Values("X-Request-Id"); len(v) != 1 || v[0] == "forged" {
		t.Errorf("X-Request-Id %q", v)
	}
	for _, v := range resp.Header.Values(HeaderReceipt) {
		if v == "forged" {
			t.Errorf("the provider's forged receipt reached the consumer")
		}
	}
	if v := resp.Header.Values(HeaderClassification); len(v) != 1 || v[0] != "internal" {
		t.Errorf("labels %q", v)
	}

	// Another route, without the extension, does not pass X-Total-Count.
	status, h, _ := do(t, "GET", g.base+"/population/v1/persons", "", with(rensheju, "X-Govgate-Purpose", ""))
	if status != 200 || h.Get("X-Total-Count") != "" || h.Get("Set-Cookie") != "" {
		t.Errorf("population route (%d) passed %v", status, h)
	}
}

// TestHostileResponseTrailers: fields a provider sends as chunked trailers are held to the
// same allowlist, and a label sent as a trailer is read as a label.
func TestHostileResponseTrailers(t *testing.T) {
	chunked := func(announce, trailers string) func([]byte) string {
		return func([]byte) string {
			return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTrailer: " + announce + "\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"2\r\n{}\r\n0\r\n" + trailers + "\r\n"
		}
	}
	g, rp := startHostile(t, chunked("X-Debug", "X-Debug: leaked\r\n"))
	c := dialRaw(t, g.base)
	resp, body := c.roundTrip(t, rawTaxRequest(purposeLine))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for _, name := range []string{"X-Debug", "Trailer"} {
		if v := resp.Header.Values(name); len(v) != 0 {
			t.Errorf("consumer received %s: %q", name, v)
		}
		if v := resp.Trailer.Values(name); len(v) != 0 {
			t.Errorf("consumer received trailer %s: %q", name, v)
		}
	}
	if v := resp.Header.Values(HeaderClassification); len(v) != 1 || v[0] != "internal" {
		t.Errorf("labels %q", v)
	}

	rp.setAnswer(chunked("x-classification", "x-classification: secret\r\n"))
	resp, body = c.roundTrip(t, rawTaxRequest(purposeLine))
	if resp.StatusCode == 200 {
		t.Fatalf("a secret label sent as a trailer was released: %v %s", resp.Header, body)
	}
	assertRefused(t, "label trailer", resp, body, 403, "release_denied", "LABEL_ABOVE_CEILING")

	// Trailers nobody announced are read too.
	rp.setAnswer(func([]byte) string {
		return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"2\r\n{}\r\n0\r\nX-Debug: leaked\r\nx-classification: secret\r\n\r\n"
	})
	resp, body = dialRaw(t, g.base).roundTrip(t, rawTaxRequest(purposeLine))
	assertRefused(t, "unannounced label trailer", resp, body, 403, "release_denied", "LABEL_ABOVE_CEILING")
	if v := resp.Header.Values("X-Debug"); len(v) != 0 {
		t.Errorf("consumer received X-Debug %q", v)
	}
}

// TestHostileRequestDeclaredHeaders: the headers the policy reads are refused when sent
// twice (in any case) or nominated hop-by-hop, and nothing reaches the provider.
func TestHostileRequestDeclaredHeaders(t *testing.T) {
	g, rp := startHostile(t, nil)
	for name, extra := range map[string][]string{
		"purpose twice":               {purposeLine, "x-govgate-purpose: marketing"},
		"purpose twice, same value":   {purposeLine, "X-GOVGATE-PURPOSE: social-insurance-check"},
		"agreement twice":             {purposeLine, "X-Govgate-Agreement: AGR-T-0001", "x-govgate-agreement: AGR-T-0002"},
		"purpose nominated":           {purposeLine, "Connection: X-Govgate-Purpose"},
		"agreement nominated, lower":  {purposeLine, "X-Govgate-Agreement: AGR-T-0001", "connection: keep-alive, x-govgate-agreement"},
		"asserted identity nominated": {purposeLine, "connection: x-govgate-consumer-dept"},
		"signature twice":             {purposeLine, "Signature: sig1=:AAAA:", "signature: sig1=:BBBB:"},
		"signature input twice":       {purposeLine, "Signature-Input: sig1=()", "SIGNATURE-INPUT: sig2=()"},
		"content digest twice":        {purposeLine, "Content-Digest: sm3=:AAAA:", "content-digest: sm3=:BBBB:"},
		"signature nominated":         {purposeLine, "connection: signature-input"},
		"host nominated":              {purposeLine, "Connection: host"},
	} {
		before := taxRequests(rp)
		c := dialRaw(t, g.base)
		resp, body := c.roundTrip(t, rawTaxRequest(extra...))
		assertRefused(t, name, resp, body, 400, "ambiguous_header", "")
		if n := taxRequests(rp); n != before {
			t.Errorf("%s: the provider received the request", name)
		}
	}
}

// TestHostileRequestHeaderNames: a client's X-Govgate-* fields in any case, and whatever a
// Connection header in any case names, never reach the provider; the gateway's own
// assertions arrive once.
func TestHostileRequestHeaderNames(t *testing.T) {
	g, rp := startHostile(t, nil)
	c := dialRaw(t, g.base)
	resp, body := c.roundTrip(t, rawTaxRequest(purposeLine,
		"x-govgate-consumer-dept: 110000-gongan", "X-GOVGATE-CONSUMER-SYSTEM: forged", "x-Govgate-Signed: yes",
		"x-govgate-anything: 1", "connection: x-secret-token, Keep-Alive", "x-secret-token: hop", "keep-alive: 5",
		"upgrade: websocket", "te: trailers", "proxy-authorization: Basic eA==",
	))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	req := rp.last()
	for name, want := range map[string]string{
		"X-Govgate-Consumer-Dept": "110000-rensheju", "X-Govgate-Consumer-System": "test-system", "X-Govgate-Signed": "sm2-sm3",
	} {
		if v := rawHeaderValues(req, name); len(v) != 1 || v[0] != want {
			t.Errorf("provider received %s %q, want %q", name, v, want)
		}
	}
	for _, name := range []string{"X-Govgate-Anything", "X-Govgate-Purpose", "X-Secret-Token", "Keep-Alive", "Upgrade", "Te", "Proxy-Authorization"} {
		if v := rawHeaderValues(req, name); len(v) != 0 {
			t.Errorf("provider received %s %q", name, v)
		}
	}
}

// TestHostileClientForwardingHeaders: forwarding fields a client writes are claims nobody
// can check; the provider receives only the gateway's own.
func TestHostileClientForwardingHeaders(t *testing.T) {
	g, rp := startHostile(t, nil)
	names := []string{"Forwarded", "X-Real-IP", "X-Forwarded-Host", "X-Original-URL", "X-Rewrite-URL",
		"X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Server", "X-Client-IP", "True-Client-IP",
		"CF-Connecting-IP", "X-Cluster-Client-IP", "X-Host", "X-Forwarded-Scheme", "X-Forwarded-Ssl",
		"X-Original-Host", "X-Originating-IP", "X-Remote-IP", "X-Remote-Addr", "Client-IP", "X-ProxyUser-Ip",
		"X-Original-Forwarded-For", "Front-End-Https", "X-Url-Scheme", "X-Forwarded-Uri", "X-Original-Uri"}
	extra := []string{purposeLine, "X-Forwarded-For: 10.9.9.9", "x-forwarded-for: 10.8.8.8", "X-Forwarded-Proto: https", "x-request-id: client-chosen"}
	for i, n := range names {
		switch i % 3 {
		case 0:
			extra = append(extra, n+": 10.1.1.1")
		case 1:
			extra = append(extra, strings.ToLower(n)+": /admin")
		default:
			extra = append(extra, strings.ToUpper(n)+": evil.example")
		}
	}
	c := dialRaw(t, g.base)
	resp, body := c.roundTrip(t, rawTaxRequest(extra...))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	req := rp.last()
	for _, n := range names {
		if v := rawHeaderValues(req, n); len(v) != 0 {
			t.Errorf("provider received %s %q", n, v)
		}
	}
	if v := rawHeaderValues(req, "X-Forwarded-For"); len(v) != 1 || v[0] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", v)
	}
	if v := rawHeaderValues(req, "X-Forwarded-Proto"); len(v) != 1 || v[0] != "http" {
		t.Errorf("X-Forwarded-Proto %q", v)
	}
	if v := rawHeaderValues(req, "X-Request-Id"); len(v) != 1 || v[0] == "client-chosen" || v[0] != resp.Header.Get("X-Request-Id") {
		t.Errorf("X-Request-Id %q", v)
	}
}

// TestHostileMethodOverride: a header that would make the provider see another method
// than the one the policy decided on is refused.
func TestHostileMethodOverride(t *testing.T) {
	g, rp := startHostile(t, nil)
	for _, h := range []string{"X-HTTP-Method-Override: DELETE", "x-http-method: PUT", "X-METHOD-OVERRIDE: POST", "x-http-method-override: GET"} {
		before := taxRequests(rp)
		c := dialRaw(t, g.base)
		resp, body := c.roundTrip(t, rawTaxRequest(purposeLine, h))
		assertRefused(t, h, resp, body, 400, "method_override", "")
		if taxRequests(rp) != before {
			t.Errorf("%s: the provider received the request", h)
		}
	}
}

// TestHostileResponseFieldTypes: an agreed field is released only as the JSON type the
// catalog declares; an object or array in a string field carries data no agreement names.
func TestHostileResponseFieldTypes(t *testing.T) {
	g, rp := startHostile(t, nil)
	c := dialRaw(t, g.base)
	for name, body := range map[string]string{
		"object in a string":        `{"name":{"spouse":"王某","bank_account":"6222"},"tax_status":"正常"}`,
		"array in a string":         `{"name":["北京数联","6222020200112233445"]}`,
		"number in a masked string": `{"taxpayer_id":6222020200112233445}`,
		"boolean in a string":       `{"tax_status":true}`,
		"in an array element":       `[{"name":"甲"},{"name":{"bank_account":"6222"}}]`,
		"object in a masked string": `{"taxpayer_id":{"id":"6222020200112233445"}}`,
	} {
		rp.setAnswer(func([]byte) string { return rawResponse(200, []string{"Content-Type: application/json"}, body) })
		resp, out := c.roundTrip(t, rawTaxRequest(purposeLine))
		assertRefused(t, name, resp, out, 502, "release_refused", "RESPONSE_FIELD_TYPE")
		if strings.Contains(string(out), "6222") || strings.Contains(string(out), "王某") {
			t.Errorf("%s: nested data in the refusal: %s", name, out)
		}
	}
	rp.setAnswer(func([]byte) string {
		return rawResponse(200, []string{"Content-Type: application/json"}, `{"name":null,"tax_status":"正常","bank_account":{"x":1}}`)
	})
	resp, out := c.roundTrip(t, rawTaxRequest(purposeLine))
	if resp.StatusCode != 200 || string(out) != `{"name":null,"tax_status":"正常"}` {
		t.Errorf("null and typed fields: %d %s", resp.StatusCode, out)
	}
}

// TestHostilePoolHeaderDuplicated: a client's copies of a field the pool sets (the
// provider's credential for the gateway) do not ride along beside the pool's value.
func TestHostilePoolHeaderDuplicated(t *testing.T) {
	g, rp := startHostile(t, nil, func(_ string, s *gatewaySetup) {
		s.config = func(c *Config) { c.Pools[0].Headers = map[string]string{"Authorization": "Bearer gateway"} }
	})
	c := dialRaw(t, g.base)
	resp, body := c.roundTrip(t, rawTaxRequest(purposeLine, "Authorization: Bearer client-1", "authorization: Bearer client-2"))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if v := rawHeaderValues(rp.last(), "Authorization"); len(v) != 1 || v[0] != "Bearer gateway" {
		t.Errorf("provider received Authorization %q", v)
	}
}
