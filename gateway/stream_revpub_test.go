package gateway_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto"
	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/wire"
)

// Adversarial review of exchange and publication (h-revpub, issue 19).

// TestStreamPartialNobodyAskedFor: a provider that answers a request without Range with a
// 206 — the first 100 bytes of a file of 1000, a proxy's cached part, a server that always
// answers in parts — is refused (502, PARTIAL_UNASKED) and recorded, on a streamed and a
// buffered route. Passed, the part went out with a valid receipt and the digest of the part
// (no whole digest: it starts at byte 0), and `govgate call --output FILE` renamed it FILE
// as a verified download: a tenth of the file that looks complete. A 206 to a Range the
// consumer sent still passes.
func TestStreamPartialNobodyAskedFor(t *testing.T) {
	blob := []byte(strings.Repeat("PK\x03\x04 registration archive ", 40))[:1000]
	provider := func(ctx *fasthttp.RequestCtx) bool {
		ctx.SetContentType("application/zip")
		ctx.Response.Header.Set("ETag", `"v1"`)
		ctx.SetStatusCode(fasthttp.StatusPartialContent)
		if rng := string(ctx.Request.Header.Peek("Range")); rng == "bytes=100-" {
			ctx.Response.Header.Set("Content-Range", "bytes 100-999/1000")
			ctx.SetBody(blob[100:])
			return true
		}
		ctx.Response.Header.Set("Content-Range", "bytes 0-99/1000")
		ctx.SetBody(blob[:100])
		return true
	}
	g := startPolicyGateway(t, 0, provider, withStreamRoutes(0), withRangeRelease(""))
	for _, path := range []string{"/bulk/tiles/archive.zip", "/pub/tiles/archive.zip", "/tiles/archive.zip"} {
		r := getStream(t, g.base+path, exchanger)
		if r.status != fasthttp.StatusBadGateway || !strings.Contains(string(r.body), "PARTIAL_UNASKED") || r.trailer.Get(wire.HeaderReceipt) != "" {
			t.Errorf("%s: a 206 to a request without Range: %d %q receipt %q", path, r.status, r.body, r.trailer.Get(wire.HeaderReceipt))
		}
		if e := g.audit.last(); e.status != fasthttp.StatusBadGateway || e.code != "release_refused" {
			t.Errorf("%s: recorded as %+v", path, e)
		}
	}
	r := getStream(t, g.base+"/bulk/tiles/archive.zip", with(exchanger, "Range", "bytes=100-"))
	if r.status != 206 || r.err != nil || string(r.body) != string(blob[100:]) || r.trailer.Get(wire.HeaderReceipt) == "" {
		t.Errorf("a 206 to the consumer's Range: %d %v %d bytes", r.status, r.err, len(r.body))
	}
}

// wholeDocumentDigests are fields in which a provider states a digest of its whole
// document; a careless operator may release them on a route (response_headers).
var wholeDocumentDigests = []string{"Repr-Digest", "Content-Digest", "Digest", "Content-MD5"}

// withWholeDigestsReleased releases every whole-document digest field on every route.
func withWholeDigestsReleased() func(string, *gatewaySetup) {
	return func(_ string, s *gatewaySetup) {
		prev := s.config
		s.config = func(cfg *Config) {
			if prev != nil {
				prev(cfg)
			}
			for i := range cfg.Routes {
				cfg.Routes[i].ResponseHeaders = append(cfg.Routes[i].ResponseHeaders, wholeDocumentDigests...)
			}
		}
	}
}

// TestCutResourceNoWholeDocumentDigest: a provider's digest of its whole document
// (Repr-Digest, Content-Digest, Digest, Content-MD5) never reaches the consumer of a
// resource released by fields, whatever the route releases: it would let the consumer
// confirm guesses of the fields withheld from it, which is why the gateway states no whole
// digest of a cut and seals the provider's ETag. Streamed (exchange and publish), a
// publish 304, and a buffered JSON query. On an opaque resource the route's release
// stands (the consumer receives the whole document).
func TestCutResourceNoWholeDocumentDigest(t *testing.T) {
	doc := "uscc,name,legal_representative,status,registered_capital\n91110108MA01A2B3C4,北京数联,张三丰,存续,100万\n"
	sum := crypto.SM3([]byte(doc))
	b64 := base64.StdEncoding.EncodeToString(sum[:])
	provider := func(ctx *fasthttp.RequestCtx) bool {
		ctx.Response.Header.Set("repr-digest", "sm3=:"+b64+":")
		ctx.Response.Header.Set("Content-Digest", "sm3=:"+b64+":")
		ctx.Response.Header.Set("Digest", "SM3="+b64)
		ctx.Response.Header.Set("Content-MD5", "bm90IGEgcmVhbCBtZDU=")
		ctx.Response.Header.Set("ETag", `"reg-1"`)
		switch path := string(ctx.Path()); {
		case strings.HasPrefix(path, "/tax/"):
			return taxpayer(ctx)
		case strings.HasPrefix(path, "/pub/tiles/"):
			ctx.SetContentType("application/zip")
			ctx.SetBodyString(doc)
		case string(ctx.Request.Header.Peek("If-None-Match")) == `"reg-1"`:
			ctx.SetStatusCode(fasthttp.StatusNotModified)
		default:
			return csvProvider("text/csv", doc, 16)(ctx)
		}
		return true
	}
	g := startPolicyGateway(t, 0, provider, withStreamRoutes(0), withWholeDigestsReleased())
	leaked := func(name string, status int, h map[string][]string) {
		t.Helper()
		for _, f := range wholeDocumentDigests {
			for k, v := range h {
				if strings.EqualFold(k, f) {
					t.Errorf("%s (%d): the provider's %s of the whole document reached the consumer of a cut: %q", name, status, f, v)
				}
			}
		}
	}
	r := getStream(t, g.base+"/ent/changes.csv", exchanger)
	if r.status != 200 || r.err != nil || !strings.Contains(string(r.body), "张*") {
		t.Fatalf("exchange: %d %v %q", r.status, r.err, r.body)
	}
	leaked("exchange", r.status, r.header)
	r = getStream(t, g.base+"/pub/ent/changes.csv", exchanger)
	leaked("publish", r.status, r.header)
	tag := r.header.Get("ETag")
	r = getStream(t, g.base+"/pub/ent/changes.csv", with(exchanger, "If-None-Match", tag))
	if r.status != 304 {
		t.Fatalf("publish conditional: %d", r.status)
	}
	leaked("publish 304", r.status, r.header)
	// An opaque resource is released whole: its digests describe what the consumer gets.
	r = getStream(t, g.base+"/pub/tiles/x.zip", exchanger)
	if r.status != 200 || r.header.Get("Repr-Digest") != "sm3=:"+b64+":" {
		t.Errorf("opaque: %d Repr-Digest %q", r.status, r.header.Get("Repr-Digest"))
	}
	g = startPolicyGateway(t, 0, provider, withWholeDigestsReleased())
	status, h, body := do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", rensheju)
	if status != 200 || strings.Contains(string(body), "bank_account") {
		t.Fatalf("query: %d %s", status, body)
	}
	leaked("query", status, h)
}

// TestStreamRangeBodyNotItsContentRange: a provider's 206 whose body is not the span its
// Content-Range announces — longer (the bytes after the span are not of it) or shorter —
// is refused before the head when the first window shows it, else cut
// (RANGE_SIZE_MISMATCH), never with a receipt, and no byte past the span reaches the
// consumer. With a provider Repr-Digest the gateway reads no prefix, so before this check
// the part went out complete with a receipt, and only the consumer's whole-file check
// caught it, after the bytes past the span had been appended to its FILE.part (which
// every later --continue-at then resumes from the wrong offset).
func TestStreamRangeBodyNotItsContentRange(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 400000; i++ {
		fmt.Fprintf(&b, "%09d\n", i) // every 40 bytes of it unique
	}
	blob := []byte(b.String())
	sum := crypto.SM3(blob)
	for name, tc := range map[string]struct {
		last int // the Content-Range's last byte; it starts at 100
		body []byte
	}{
		"longer, first window":  {199, blob[100:600]},
		"shorter, first window": {199, blob[100:150]},
		"longer, mid-stream":    {200099, blob[100:250100]},
		"shorter, mid-stream":   {200099, blob[100:150100]},
	} {
		provider := func(ctx *fasthttp.RequestCtx) bool {
			ctx.SetContentType("application/zip")
			ctx.Response.Header.Set("ETag", `"v1"`)
			ctx.Response.Header.Set("Repr-Digest", "sm3=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
			ctx.SetStatusCode(fasthttp.StatusPartialContent)
			ctx.Response.Header.Set("Content-Range", fmt.Sprintf("bytes 100-%d/%d", tc.last, len(blob)))
			ctx.SetBody(tc.body)
			return true
		}
		g := startPolicyGateway(t, 0, provider, withStreamRoutes(0), withRangeRelease(""))
		raw := getRaw(t, g.base, "/bulk/tiles/archive.zip", with(exchanger, "Range", fmt.Sprintf("bytes=100-%d", tc.last), "Connection", "close"))
		e := g.audit.last()
		if tc.last == 199 {
			if !strings.HasPrefix(raw, "HTTP/1.1 502") || !strings.Contains(raw, "RANGE_SIZE_MISMATCH") || e.status != 502 || e.code != "release_refused" {
				t.Errorf("%s: %.60q ... recorded as %+v", name, raw, e)
			}
			continue
		}
		if !strings.HasSuffix(raw, "0\r\n"+wire.HeaderTransferError+": release_refused\r\n") || strings.Contains(raw, wire.HeaderReceipt+": log") {
			t.Errorf("%s: ended as %q", name, raw[max(0, len(raw)-120):])
		}
		if strings.Contains(raw, string(blob[tc.last+1:tc.last+41])) {
			t.Errorf("%s: bytes past the announced span reached the consumer", name)
		}
		if e.code != "release_refused" || e.status != 206 {
			t.Errorf("%s: recorded as %+v", name, e)
		}
	}
	// The span as announced passes.
	g := startPolicyGateway(t, 0, func(ctx *fasthttp.RequestCtx) bool {
		ctx.SetContentType("application/zip")
		ctx.SetStatusCode(fasthttp.StatusPartialContent)
		ctx.Response.Header.Set("Content-Range", "bytes 100-200099/400000")
		ctx.SetBody(blob[100:200100])
		return true
	}, withStreamRoutes(0), withRangeRelease(""))
	r := getStream(t, g.base+"/bulk/tiles/archive.zip", with(exchanger, "Range", "bytes=100-200099"))
	if r.status != 206 || r.err != nil || string(r.body) != string(blob[100:200100]) || r.trailer.Get(wire.HeaderReceipt) == "" {
		t.Errorf("the span as announced: %d %v %d bytes", r.status, r.err, len(r.body))
	}
}

// TestStreamProviderFramingLeftoversNeverReachTheNextExchange: a provider whose body is
// longer than its framing says — a Content-Length shorter than what follows, chunked and
// Content-Length together, bytes after the last chunk — leaves a forged answer on its
// connection. The streamed transfer ends at the framing, and the next exchange on that
// pool (another consumer's, maybe) never reads the leftover as its answer.
func TestStreamProviderFramingLeftoversNeverReachTheNextExchange(t *testing.T) {
	const smuggled = "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 24\r\n\r\nuscc,name\nSMUGGLED,x\n\r\n"
	rows := "uscc,name\n1,a\n"
	for name, first := range map[string]string{
		"short Content-Length": "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: " + fmt.Sprint(len(rows)) + "\r\n\r\n" + rows + smuggled,
		"chunked and Content-Length": "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(rows), rows) + smuggled,
		"bytes after the last chunk": "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(rows), rows) + smuggled,
	} {
		g, _ := startHostile(t, func(req []byte) string {
			if strings.Contains(string(req), "/first") {
				return first
			}
			return "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 14\r\n\r\nuscc,name\n2,b\n"
		}, withStreamRoutes(0))
		r := getStream(t, g.base+"/ent/first.csv", exchanger)
		if r.status == 200 && (r.err != nil || !strings.Contains(string(r.body), "1,a") || strings.Contains(string(r.body), "SMUGGLED")) {
			t.Errorf("%s: the first transfer: %v %q", name, r.err, r.body)
		}
		for i := 0; i < 3; i++ {
			r = getStream(t, g.base+"/ent/second.csv", exchanger)
			if strings.Contains(string(r.body), "SMUGGLED") || (r.status == 200 && !strings.Contains(string(r.body), "2,b")) {
				t.Errorf("%s: the next exchange read the leftover: %d %q", name, r.status, r.body)
			}
		}
	}
}

// TestStreamPrefixFromAProviderIgnoringIfRange: the file changed between the consumer's
// range and the gateway's read of the prefix, and the provider ignores If-Range: it
// answers the prefix 206 from the new file (its new ETag, or its old ETag with another
// total). No whole digest is stated — the consumer's check fails closed — and the
// transfer itself goes through with its receipt.
func TestStreamPrefixFromAProviderIgnoringIfRange(t *testing.T) {
	old := []byte(strings.Repeat("PK\x03\x04 registration archive v1 ", 8000))
	for name, prefixHead := range map[string]func(ctx *fasthttp.RequestCtx, n int){
		"new ETag": func(ctx *fasthttp.RequestCtx, n int) {
			ctx.Response.Header.Set("ETag", `"v2"`)
			ctx.Response.Header.Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", n-1, len(old)))
		},
		"old ETag, another total": func(ctx *fasthttp.RequestCtx, n int) {
			ctx.Response.Header.Set("ETag", `"v1"`)
			ctx.Response.Header.Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", n-1, len(old)+7))
		},
	} {
		provider := func(ctx *fasthttp.RequestCtx) bool {
			ctx.SetContentType("application/zip")
			ctx.SetStatusCode(fasthttp.StatusPartialContent)
			var from, to int
			fmt.Sscanf(string(ctx.Request.Header.Peek("Range")), "bytes=%d-%d", &from, &to)
			if len(ctx.Request.Header.Peek("If-Range")) > 0 { // the gateway's prefix, from the changed file
				prefixHead(ctx, to+1)
				ctx.SetBody([]byte(strings.Repeat("X", to+1)))
				return true
			}
			ctx.Response.Header.Set("ETag", `"v1"`)
			ctx.Response.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, len(old)-1, len(old)))
			ctx.SetBody(old[from:])
			return true
		}
		g := startPolicyGateway(t, 0, provider, withStreamRoutes(0), withRangeRelease(""))
		r := getStream(t, g.base+"/bulk/tiles/archive.zip", with(exchanger, "Range", "bytes=100000-"))
		if r.status != 206 || r.err != nil || string(r.body) != string(old[100000:]) || r.trailer.Get(wire.HeaderReceipt) == "" {
			t.Fatalf("%s: %d %v %d bytes", name, r.status, r.err, len(r.body))
		}
		if w := r.trailer.Get(wire.HeaderWholeDigest); w != "" {
			t.Errorf("%s: a whole digest was stated of a prefix from another representation: %s", name, w)
		}
		if e := g.audit.last(); e.whole != "" {
			t.Errorf("%s: recorded %+v", name, e)
		}
	}
}

// TestNotModifiedNeverLowersTheLabel: a provider labels its 200 above the catalog's label
// (X-Classification: internal on a public resource) and, as providers do, sends no label on
// its 304. The gateway wrote the catalog's label on the 304 (public), and a cache updates
// its stored response's fields from a 304 (RFC 9111 4.3.4): the copy the consumer holds,
// released as internal, became public. A 304 without the provider's label carries none; one
// with it is checked against the ceiling and released as the 200 would be.
func TestNotModifiedNeverLowersTheLabel(t *testing.T) {
	var label304 atomic.Value
	label304.Store("")
	provider := func(ctx *fasthttp.RequestCtx) bool {
		ctx.Response.Header.Set("ETag", `"reg-1"`)
		if string(ctx.Request.Header.Peek("If-None-Match")) == `"reg-1"` {
			ctx.SetStatusCode(fasthttp.StatusNotModified)
			if l := label304.Load().(string); l != "" {
				ctx.Response.Header.Set("X-Classification", l)
			}
			return true
		}
		ctx.Response.Header.Set("X-Classification", "internal")
		ctx.SetContentType("application/zip")
		ctx.SetBodyString("PK\x03\x04 tiles")
		return true
	}
	g := startPolicyGateway(t, 0, provider, withStreamRoutes(0))
	r := getStream(t, g.base+"/pub/tiles/x.zip", exchanger)
	if r.status != 200 || r.header.Get("X-Classification") != "internal" {
		t.Fatalf("200: %d label %q", r.status, r.header.Get("X-Classification"))
	}
	r = getStream(t, g.base+"/pub/tiles/x.zip", with(exchanger, "If-None-Match", `"reg-1"`))
	if r.status != 304 || r.header.Get(wire.HeaderReceipt) == "" || len(r.header.Values("X-Classification")) != 0 {
		t.Errorf("a 304 without the provider's label: %d labels %q", r.status, r.header.Values("X-Classification"))
	}
	label304.Store("internal")
	r = getStream(t, g.base+"/pub/tiles/x.zip", with(exchanger, "If-None-Match", `"reg-1"`))
	if r.status != 304 || r.header.Get("X-Classification") != "internal" {
		t.Errorf("a 304 with the provider's label: %d label %q", r.status, r.header.Get("X-Classification"))
	}
	label304.Store("secret") // above this consumer's ceiling
	r = getStream(t, g.base+"/pub/tiles/x.zip", with(exchanger, "If-None-Match", `"reg-1"`))
	if r.status != 403 || !strings.Contains(string(r.body), "LABEL_ABOVE_CEILING") {
		t.Errorf("a 304 labelled above the ceiling: %d %q", r.status, r.body)
	}
}

// TestPublishCutETagHidesTheProviderTagLength: the gateway's tag of a cut seals the
// provider's, but its length was the provider tag's plus a constant. nginx's ETag is
// "<mtime hex>-<size hex>" of the whole document: the length of the gateway's tag told the
// consumer of a cut the order of magnitude (a factor of 16) of the whole document's size,
// withheld fields included, and when it crossed one. Sealed tags are padded to a block of
// 32 bytes; the tag still answers 304.
func TestPublishCutETagHidesTheProviderTagLength(t *testing.T) {
	var lens []int
	for _, etag := range []string{`"674c1e80-fff"`, `"674c1e80-1000"`, `"674c1e80-ffffff"`} {
		p := &publishedCSV{etag: etag}
		g := startPolicyGateway(t, 0, p.serve, withStreamRoutes(0))
		tag := getStream(t, g.base+"/pub/ent/changes.csv", exchanger).header.Get("ETag")
		lens = append(lens, len(tag))
		if r := getStream(t, g.base+"/pub/ent/changes.csv", with(exchanger, "If-None-Match", tag)); r.status != 304 || r.header.Get("ETag") != tag {
			t.Errorf("%s: the gateway's tag %q: %d %q", etag, tag, r.status, r.header.Get("ETag"))
		}
		if inm, _ := p.lastAsked(); inm != etag {
			t.Errorf("%s: the provider was asked %q", etag, inm)
		}
	}
	if lens[0] != lens[1] || lens[1] != lens[2] {
		t.Errorf("the gateway's tag is as long as the provider's: %v", lens)
	}
}
