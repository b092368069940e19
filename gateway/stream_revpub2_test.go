package gateway_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/wire"
)

// Second adversarial review of exchange and publication (h-revpub2, issue 19): the first
// review's fixes and their edges.

// withQueryRangeRelease releases Content-Range on the opaque query route too (buffered).
func withQueryRangeRelease() func(string, *gatewaySetup) {
	return func(_ string, s *gatewaySetup) {
		prev := s.config
		s.config = func(cfg *Config) {
			prev(cfg)
			for i := range cfg.Routes {
				if cfg.Routes[i].ID == "tiles" {
					cfg.Routes[i].ResponseHeaders = []string{"Content-Range"}
				}
			}
		}
	}
}

// rawPart is a provider's answer with status, fields and body, framed by Content-Length
// or, when chunked, in one chunk.
func rawPart(status int, fields []string, body string, chunked bool) string {
	if !chunked {
		return rawResponse(status, fields, body)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d X\r\n", status)
	for _, f := range fields {
		b.WriteString(f + "\r\n")
	}
	fmt.Fprintf(&b, "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	return b.String()
}

// TestRangeContentRangeEdges: the span check (RANGE_SIZE_MISMATCH) read the span only from
// one Content-Range it could parse as "bytes F-L/T" with a known total; any other 206 went
// out unchecked, whatever its length. A hostile or sloppy provider answering the
// consumer's "Range: bytes=100-199" with 500 bytes under "bytes 100-199/*" (RFC 9110's
// unknown total, which govgate call reads as a start of 100 and appends), two Content-Range
// fields, "*/1000" on a 206, a span past its total, spaces or no Content-Range at all, had
// all 500 bytes appended to the consumer's FILE.part with a receipt. And a buffered route
// (query mode, or a HEAD) checked no span at all. A 206 is now one well-formed byte range
// (the total may be unknown) of exactly its span, on every route; a multipart/byteranges
// answer only to a request for several ranges; Content-Range only on 206 and 416. Also a
// span of 2^63-1 bytes, which overflowed the window arithmetic.
func TestRangeContentRangeEdges(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 1000; i++ {
		fmt.Fprintf(&b, "%09d\n", i)
	}
	blob := b.String()
	zip := "Content-Type: application/zip"
	for name, tc := range map[string]struct {
		status  int
		fields  []string
		body    string
		chunked bool
	}{
		"unknown total, longer":        {206, []string{zip, "Content-Range: bytes 100-199/*"}, blob[100:600], false},
		"span past its total":          {206, []string{zip, "Content-Range: bytes 100-199/150"}, blob[100:200], false},
		"two fields":                   {206, []string{zip, "Content-Range: bytes 100-199/1000", "Content-Range: bytes 100-199/1000"}, blob[100:600], false},
		"two fields that differ":       {206, []string{zip, "Content-Range: bytes 100-599/1000", "content-range: bytes 100-199/1000"}, blob[100:600], false},
		"unsatisfied form on a 206":    {206, []string{zip, "Content-Range: bytes */1000"}, blob[100:600], false},
		"spaces":                       {206, []string{zip, "Content-Range: bytes 100 - 199/1000"}, blob[100:600], false},
		"signs":                        {206, []string{zip, "Content-Range: bytes +100-+199/+1000"}, blob[100:200], false},
		"none":                         {206, []string{zip}, blob[100:600], false},
		"2^63-1 bytes":                 {206, []string{zip, "Content-Range: bytes 0-9223372036854775806/9223372036854775807"}, blob[100:600], false},
		"chunked, longer":              {206, []string{zip, "Content-Range: bytes 100-199/1000"}, blob[100:600], true},
		"Content-Length, longer":       {206, []string{zip, "Content-Range: bytes 100-199/1000"}, blob[100:600], false},
		"empty":                        {206, []string{zip, "Content-Range: bytes 100-199/1000"}, "", false},
		"empty, chunked":               {206, []string{zip, "Content-Range: bytes 100-199/1000"}, "", true},
		"multipart to one range":       {206, []string{"Content-Type: multipart/byteranges; boundary=B"}, "--B\r\nContent-Type: application/zip\r\nContent-Range: bytes 100-599/1000\r\n\r\n" + blob[100:600] + "\r\n--B--\r\n", false},
		"Content-Range on a 200":       {200, []string{zip, "Content-Range: bytes 100-199/1000"}, blob[100:200], false},
		"Content-Range on a 200, long": {200, []string{zip, "Content-Range: bytes 100-199/1000"}, blob[100:600], true},
	} {
		answer := rawPart(tc.status, tc.fields, tc.body, tc.chunked)
		g, _ := startHostile(t, func([]byte) string { return answer }, withStreamRoutes(0), withRangeRelease(""), withQueryRangeRelease())
		for _, path := range []string{"/bulk/tiles/archive.zip", "/tiles/archive.zip"} {
			r := getStream(t, g.base+path, with(exchanger, "Range", "bytes=100-199"))
			if r.status != 502 || strings.Contains(string(r.body), blob[200:240]) || r.trailer.Get(wire.HeaderReceipt) != "" {
				t.Errorf("%s, %s: %d %q receipt %q", name, path, r.status, r.body[:min(len(r.body), 120)], r.trailer.Get(wire.HeaderReceipt))
			}
			if e := g.audit.last(); e.code != "release_refused" {
				t.Errorf("%s, %s: recorded as %+v", name, path, e)
			}
		}
	}
	// What a provider may answer.
	multipart := "--B\r\nContent-Type: application/zip\r\nContent-Range: bytes 100-199/1000\r\n\r\n" + blob[100:200] +
		"\r\n--B\r\nContent-Type: application/zip\r\nContent-Range: bytes 300-399/1000\r\n\r\n" + blob[300:400] + "\r\n--B--\r\n"
	for name, tc := range map[string]struct {
		rng, answer, body string
	}{
		"the span":                    {"bytes=100-199", rawPart(206, []string{zip, "Content-Range: bytes 100-199/1000"}, blob[100:200], false), blob[100:200]},
		"the span, chunked":           {"bytes=100-199", rawPart(206, []string{zip, "Content-Range: bytes 100-199/1000"}, blob[100:200], true), blob[100:200]},
		"the span, unknown total":     {"bytes=100-199", rawPart(206, []string{zip, "Content-Range: bytes 100-199/*"}, blob[100:200], false), blob[100:200]},
		"the span, lower-case":        {"bytes=100-199", rawPart(206, []string{zip, "content-range: bytes 100-199/1000"}, blob[100:200], false), blob[100:200]},
		"one byte":                    {"bytes=0-0", rawPart(206, []string{zip, "Content-Range: bytes 0-0/1"}, "x", false), "x"},
		"multipart to several ranges": {"bytes=100-199, 300-399", rawPart(206, []string{"Content-Type: multipart/byteranges; boundary=B"}, multipart, false), multipart},
	} {
		answer := tc.answer
		g, _ := startHostile(t, func([]byte) string { return answer }, withStreamRoutes(0), withRangeRelease(""), withQueryRangeRelease())
		for _, path := range []string{"/bulk/tiles/archive.zip", "/tiles/archive.zip"} {
			r := getStream(t, g.base+path, with(exchanger, "Range", tc.rng))
			if r.status != 206 || r.err != nil || string(r.body) != tc.body {
				t.Errorf("%s, %s: %d %v %q", name, path, r.status, r.err, r.body[:min(len(r.body), 120)])
			}
		}
	}
}

// TestRangeIfRangeIgnoredByTheProvider: a consumer continuing a download asks "Range:
// bytes=100-" under "If-Range: <the version it holds>", and a provider that ignores
// If-Range answers 206 with the rest of another version (its new ETag, a weak one, or
// none). govgate call checks the 206's ETag against its part's, but curl and other
// consumers do not: they appended the rest of the new version to the start of the old,
// with a receipt. The gateway refuses (PARTIAL_OTHER_VERSION) on streamed and buffered
// routes; the version asked for passes.
func TestRangeIfRangeIgnoredByTheProvider(t *testing.T) {
	blob := strings.Repeat("PK\x03\x04 registration archive v2 ", 40)
	for name, tc := range map[string]struct {
		etag   []string
		ifRng  string
		status int
	}{
		"another version":       {[]string{`ETag: "v2"`}, `"v1"`, 502},
		"no ETag":               {nil, `"v1"`, 502},
		"weak ETag of the tag":  {[]string{`ETag: W/"v1"`}, `"v1"`, 502},
		"two ETags":             {[]string{`ETag: "v1"`, `etag: "v2"`}, `"v1"`, 502},
		"a weak If-Range":       {[]string{`ETag: W/"v1"`}, `W/"v1"`, 502},
		"the version asked for": {[]string{`ETag: "v1"`}, `"v1"`, 206},
		"a date If-Range":       {[]string{`ETag: "v2"`}, "Wed, 21 Oct 2015 07:28:00 GMT", 206},
		"lower-case ETag, v1":   {[]string{`etag: "v1"`}, `"v1"`, 206},
	} {
		fields := append([]string{"Content-Type: application/zip", fmt.Sprintf("Content-Range: bytes 100-%d/%d", len(blob)-1, len(blob))}, tc.etag...)
		answer := rawPart(206, fields, blob[100:], false)
		g, _ := startHostile(t, func([]byte) string { return answer }, withStreamRoutes(0), withRangeRelease("off"), withQueryRangeRelease())
		for _, path := range []string{"/bulk/tiles/archive.zip", "/tiles/archive.zip"} {
			r := getStream(t, g.base+path, with(exchanger, "Range", "bytes=100-", "If-Range", tc.ifRng))
			if r.status != tc.status || (tc.status == 502 && (!strings.Contains(string(r.body), "PARTIAL_OTHER_VERSION") || strings.Contains(string(r.body), "archive v2"))) {
				t.Errorf("%s, %s: %d %q", name, path, r.status, r.body[:min(len(r.body), 100)])
			}
			if tc.status == 206 && string(r.body) != blob[100:] {
				t.Errorf("%s, %s: %d bytes", name, path, len(r.body))
			}
		}
	}
}

// TestStreamLimitOfMaxInt64: a careless operator's max_response_bytes of 2^63-1 ("no
// limit") overflowed the window arithmetic (limit-received+1) and panicked the gateway on
// the first streamed read. It streams.
func TestStreamLimitOfMaxInt64(t *testing.T) {
	g := startPolicyGateway(t, 0, csvProvider("text/csv", "uscc,name,status\n1,a,存续\n", 7), withStreamRoutes(math.MaxInt64))
	r := getStream(t, g.base+"/ent/changes.csv", exchanger)
	if r.status != 200 || r.err != nil || string(r.body) != "uscc,name,status\n1,a,存续\n" || r.trailer.Get(wire.HeaderReceipt) == "" {
		t.Errorf("%d %v %q", r.status, r.err, r.body)
	}
}

// TestCutResourceNoWholeDocumentDigestInTrailers: the provider's digests of its whole
// document in a chunked answer's trailer section, in any case and repeated, announced or
// not, never reach the consumer of a buffered cut (fasthttp's client merges trailers into
// the head the release stage reads), whatever the route releases.
func TestCutResourceNoWholeDocumentDigestInTrailers(t *testing.T) {
	for name, announce := range map[string]string{"announced": "Trailer: repr-digest, Digest, content-md5, CONTENT-DIGEST\r\n", "unannounced": ""} {
		answer := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + announce + "Transfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n", len(taxpayerJSON), taxpayerJSON) +
			"repr-digest: sm3=:AAAA:\r\nDigest: SM3=AAAA\r\nDIGEST: MD5=BBBB\r\ncontent-md5: CCCC\r\nCONTENT-DIGEST: sm3=:DDDD:\r\n\r\n"
		g, _ := startHostile(t, func([]byte) string { return answer }, withWholeDigestsReleased())
		status, h, body := do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", rensheju)
		if status != 200 || strings.Contains(string(body), "bank_account") {
			t.Fatalf("%s: %d %s", name, status, body)
		}
		for k, v := range h {
			for _, f := range wholeDocumentDigests {
				if strings.EqualFold(k, f) {
					t.Errorf("%s: %s %q reached the consumer of a cut", name, k, v)
				}
			}
		}
		// The control: an opaque resource's route releases them, trailers included.
		status, h, _ = do(t, "GET", g.base+"/tiles/x", "", rensheju)
		if status != 200 || h.Get("Repr-Digest") != "sm3=:AAAA:" {
			t.Errorf("%s: opaque: %d %v", name, status, h)
		}
	}
}
