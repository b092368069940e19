package gateway_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/crypto/tlcp"
	. "github.com/govgate/govgate/gateway"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/internal/vaulttest"
	"github.com/govgate/govgate/keys"
)

// Attacks by a hostile consumer or provider over real sockets. Each test here FAILS on
// the code it was written against: it states what should hold and shows that it does not.

// chunkedTilesPost is an unsigned consumer's POST to the public tiles route (query mode
// allows POST; the resource needs no signature and no agreement) with a chunked body and
// the given trailer lines after the last chunk.
func chunkedTilesPost(trailers ...string) string {
	var b strings.Builder
	b.WriteString("POST /tiles/1 HTTP/1.1\r\nHost: gw\r\nX-Test-Dept: 110000-rensheju\r\n" +
		"Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n")
	for _, t := range trailers {
		b.WriteString(t)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// TestAttackRequestTrailerSmugglesGatewayHeaders: fields a consumer sends in the trailer
// section of a chunked request body bypass every request-header check and reach the
// provider as ordinary header fields.
//
// Why: fasthttp keeps request trailers apart from the header (trailerH), and h.All(), which
// captureDeclared and stripRequestHeaders iterate, does not yield them; then deleteMarked
// calls h.Del("Trailer") for the hop-by-hop list, and fasthttp's Del("Trailer") moves every
// received trailer field INTO the header section — after the stripping loop has run. The
// forwarded request carries them with a Content-Length body, as header lines.
//
// Impact (critical): a consumer makes the provider receive a second
// X-Govgate-Consumer-Dept naming another department (the gateway's Set replaces only the
// first copy; a provider that reads the last value, or all of them, serves the forged
// department); an unsigned consumer makes the provider receive "X-Govgate-Signed: sm2-sm3" — the gateway's assertion that the request carried a verified
// SM2 signature — and any X-Govgate-* field (a declared agreement the policy never saw),
// X-HTTP-Method-Override (refused with 400 when sent as a header: a provider honouring it
// performs DELETE while the audit record says POST), and the forwarding claims the gateway
// promises to remove (Forwarded, X-Original-URL, X-Rewrite-URL: a provider behind IIS or
// Symfony serves another path than the one routed and decided on).
func TestAttackRequestTrailerSmugglesGatewayHeaders(t *testing.T) {
	g, rp := startHostile(t, nil)
	smuggled := []string{
		"X-Govgate-Signed: sm2-sm3",
		"X-Govgate-Agreement: AGR-FORGED",
		"X-Govgate-Anything: forged",
		"X-HTTP-Method-Override: DELETE",
		"Forwarded: for=10.1.2.3;host=internal",
		"X-Original-URL: /cases/all",
		"X-Rewrite-URL: /cases/all",
		"X-Govgate-Consumer-Dept: 110000-gongan",
		"X-Harmless: 1",
	}
	// The fix refuses any request trailer: each alone, all together.
	for _, trailers := range append([][]string{smuggled}, splitEach(smuggled)...) {
		before := rp.count()
		resp, body := dialRaw(t, g.base).roundTrip(t, chunkedTilesPost(trailers...))
		if resp.StatusCode != 400 || errorCode(t, body) != "trailers_refused" {
			t.Errorf("trailers %q: %d %s, want 400 trailers_refused", trailers, resp.StatusCode, body)
		}
		if rp.count() != before {
			t.Errorf("trailers %q: the request reached the provider:\n%s", trailers, rp.last())
		}
		if last := g.audit.last(); last.code != "trailers_refused" {
			t.Errorf("trailers %q: refusal not audited: %+v", trailers, last)
		}
	}
	// The same chunked body without trailers is forwarded, re-framed.
	resp, body := dialRaw(t, g.base).roundTrip(t, chunkedTilesPost())
	if resp.StatusCode != 200 {
		t.Fatalf("chunked POST without trailers: %d %s", resp.StatusCode, body)
	}
}

func splitEach(lines []string) [][]string {
	out := make([][]string, len(lines))
	for i, l := range lines {
		out[i] = []string{l}
	}
	return out
}

// TestAttackUnderscoreHeaderNamesReachProvider: a consumer's X_Govgate_Consumer_Dept (or
// X-Govgate_Consumer-Dept, X_GOVGATE_SIGNED, X_Forwarded_For, X_HTTP_Method_Override) is
// forwarded to the provider. The gateway's checks compare names with '-' only. CGI-style
// environments (CGI/1.1 meta-variables, WSGI's environ, PHP's $_SERVER) name a field
// HTTP_ + its name upper-cased with '-' turned into '_', so X_Govgate_Consumer_Dept and the
// gateway's X-Govgate-Consumer-Dept become the same variable; a front server that does not
// drop underscore names (nginx with underscores_in_headers on, several WSGI servers) passes
// both, and which one wins is that server's choice. The forged copy arrives BEFORE the
// gateway's own assertion.
//
// Impact: the consumer chooses the department (or signed status, client address, method)
// the provider believes; the contract says a provider may trust X-Govgate-* and
// X-Forwarded-For as the gateway's own. Severity: medium to high, depending on the
// provider's stack.
func TestAttackUnderscoreHeaderNamesReachProvider(t *testing.T) {
	g, rp := startHostile(t, nil)
	forged := []string{
		"X_Govgate_Consumer_Dept: 110000-gongan",
		"X-Govgate_Consumer-Dept: 110000-gongan",
		"X_GOVGATE_SIGNED: sm2-sm3",
		"X_Forwarded_For: 10.9.9.9",
		"X_HTTP_Method_Override: DELETE",
		"Content_Length: 5",
		"Transfer_Encoding: chunked",
		"Content_Type: text/plain",
	}
	for _, line := range forged {
		before := rp.count()
		resp, body := dialRaw(t, g.base).roundTrip(t, rawTaxRequest(purposeLine, line))
		if resp.StatusCode != 400 || errorCode(t, body) != "ambiguous_header" {
			t.Errorf("%s: %d %s, want 400 ambiguous_header", line, resp.StatusCode, body)
		}
		if rp.count() != before {
			t.Errorf("%s: the request reached the provider", line)
		}
	}
	// Any other name with '_' is dropped, as nginx drops it: the provider never sees two
	// spellings of one field.
	resp, body := dialRaw(t, g.base).roundTrip(t, rawTaxRequest(purposeLine, "X_Trace_Token: abc", "Api_Key: k"))
	if resp.StatusCode != 200 {
		t.Fatalf("benign underscore names: %d %s", resp.StatusCode, body)
	}
	_, headers, _ := rawHead(rp.last())
	for _, h := range headers {
		if name, _, _ := strings.Cut(h, ":"); strings.Contains(name, "_") {
			t.Errorf("provider received %q", h)
		}
	}
}

// rangeServing answers like a provider whose server honours Range on its JSON (Go's
// http.ServeContent, nginx, any static or caching layer): a "Range: bytes=a-b" request gets
// 206 with those bytes of doc, anything else 200 with doc.
func rangeServing(doc string) func(req []byte) string {
	return func(req []byte) string {
		if v := rawHeaderValues(req, "Range"); len(v) == 1 {
			var a, b int
			if n, _ := fmtSscanf(v[0], "bytes=%d-%d", &a, &b); n == 2 && a <= b && b < len(doc) {
				part := doc[a : b+1]
				return "HTTP/1.1 206 Partial Content\r\nContent-Type: application/json\r\n" +
					"Content-Range: bytes " + itoa(a) + "-" + itoa(b) + "/" + itoa(len(doc)) + "\r\n" +
					"Content-Length: " + itoa(len(part)) + "\r\n\r\n" + part
			}
		}
		return rawResponse(200, []string{"Content-Type: application/json"}, doc)
	}
}

// TestAttackRangeReroots: a consumer's Range header is forwarded to the provider of a
// field-filtered (non-opaque) resource, and the 206 slice it gets back is filtered as if
// it were the whole document. The field cut is defined on the top-level object's members;
// a Range that selects a nested object makes that object the top level, and its members
// named like an agreed field are released.
//
// Attack: the tax registry answers a realistic record in which the legal representative
// is a nested object ({"name":"张三","id_number":...}). AGR-T-0001 grants the taxpayer's
// taxpayer_id, name and tax_status — not the legal representative (not even a catalog
// field). The consumer sends "Range: bytes=<offsets of the nested object>" and receives
// {"name":"张三"}: a natural person's name, which no agreement shares, released and
// audited as the agreed field "name" of the taxpayer.
//
// Severity: medium (needs a provider that honours Range, which most HTTP stacks do for
// static or cached JSON); it breaks "only what a sharing agreement allows crosses" and
// makes the audit record's fields false.
func TestAttackRangeReroots(t *testing.T) {
	const nested = `{"name":"张三","id_number":"110101198001010011"}`
	doc := `{"taxpayer_id":"91110108MA01A2B3C4","name":"北京数联科技有限公司","tax_status":"正常","legal_representative":` + nested + `,"bank_account":"6222020200112233445"}`
	g, rp := startHostile(t, rangeServing(doc))

	// Without Range, the nested person is cut away with the rest.
	status, _, body := do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", rensheju)
	if status != 200 || strings.Contains(string(body), "张三") {
		t.Fatalf("baseline: %d %s", status, body)
	}

	start := strings.Index(doc, nested)
	rng := "bytes=" + itoa(start) + "-" + itoa(start+len(nested)-1)
	status, _, body = do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", with(rensheju, "Range", rng))
	if v := rawHeaderValues(rp.last(), "Range"); len(v) > 0 {
		t.Logf("provider received Range: %s", v[0])
	}
	if strings.Contains(string(body), "张三") || strings.Contains(string(body), "110101") {
		t.Errorf("consumer received the legal representative's data, which no agreement grants: %d %s", status, body)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func fmtSscanf(s, format string, args ...any) (int, error) { return fmt.Sscanf(s, format, args...) }

// TestAttackHeadRevealsUnfilteredLength: a HEAD on a field-filtered resource is released
// with the provider's own Content-Length — the length of the whole record, before the
// field cut — because the release stage skips a response whose body is empty. The
// consumer compares it with the GET it is allowed: the difference is the size of the
// fields no agreement grants it (here credit_rating and bank_account: 57 bytes), which
// says whether they exist and how long they are (the length of a bank account number
// tells the bank). A provider answers HEAD as every HTTP server does: the GET's headers,
// no body.
//
// Severity: low (a length side channel on withheld fields, on every filtered resource
// whose mode allows HEAD — query, exchange and publish all do).
func TestAttackHeadRevealsUnfilteredLength(t *testing.T) {
	g, _ := startHostile(t, func(req []byte) string {
		if strings.HasPrefix(string(req), "HEAD ") {
			return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + itoa(len(taxpayerJSON)) + "\r\n\r\n"
		}
		return rawResponse(200, []string{"Content-Type: application/json"}, taxpayerJSON)
	})
	status, _, released := do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", rensheju)
	if status != 200 {
		t.Fatalf("GET %d %s", status, released)
	}
	status, h, _ := do(t, "HEAD", g.base+"/tax/v1/taxpayers?id=1", "", rensheju)
	if status != 200 {
		t.Skipf("HEAD refused (%d): refusing would be a fix", status)
	}
	if cl := h.Get("Content-Length"); cl != "" && cl != itoa(len(released)) {
		t.Errorf("HEAD released Content-Length %s, the provider's unfiltered length; the GET the consumer may have is %d bytes: %d bytes of withheld fields are measured",
			cl, len(released), len(taxpayerJSON)-len(released))
	}
}

// TestAttackReadyzLeaksKeyStoreErrorToAnyHost: /readyz answers any Host (so that load
// balancers may probe by address), and it answers with the full text of every degraded
// part's error. With the key store down, that is the Vault client's error: the Vault
// address and the path of the gateway's TLCP key in it. A page on evil.example whose name
// the attacker re-binds to the gateway host's loopback reads it (same-origin to the
// browser, so Sec-Fetch-Site is same-origin and no Origin is sent): the DNS-rebinding
// defence of adminGuard is waived exactly where the error text is.
//
// Severity: low (reconnaissance: the internal address of the secrets store and the key
// names to ask it for); a probe needs "ready" and which part is degraded, not the error.
func TestAttackReadyzLeaksKeyStoreErrorToAnyHost(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := context.Background()
	store, err := keys.NewVaultStore(ctx, keys.VaultConfig{Address: v.Addr, Token: v.Token, Prefix: "govgate/gw-test", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca, err := certs.InitDir(filepath.Join(dir, "ca"), "Root", "govgate", time.Hour, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	putTLCPPair(t, store, ca)
	src, err := tlcp.NewSource(ctx, tlcp.SourceFiles{SignKeyName: "tlcp-sign", EncKeyName: "tlcp-enc", ClientCA: []string{filepath.Join(dir, "ca", "ca.pem")}}, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	up := startUpstream(t, nil)
	gw := startGateway(t, testConfig(up.addr), Options{Stages: Stages{Degraded: map[string]WarningReporter{"tlcp-keys": src}}})
	v.Stop()
	src.Poll(ctx)

	_, port, _ := net.SplitHostPort(gw.AdminAddr().String())
	c := dialRaw(t, gw.admin)
	resp, body := c.roundTrip(t, "GET /readyz HTTP/1.1\r\nHost: evil.example:"+port+"\r\nSec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: cors\r\n\r\n")
	vaultHost := strings.TrimPrefix(strings.TrimPrefix(v.Addr, "http://"), "https://")
	if resp.StatusCode == 200 && (strings.Contains(string(body), vaultHost) || strings.Contains(string(body), "tlcp-sign")) {
		t.Errorf("/readyz for Host evil.example told it the key store's address and key names: %s", body)
	}
}
