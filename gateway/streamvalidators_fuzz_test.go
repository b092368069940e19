package gateway_test

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	. "github.com/govgate/govgate/gateway"
)

// FuzzReleasedConditions: whatever a consumer sends in If-None-Match, what the gateway
// forwards is empty or a list of entity-tags that each opened from a gateway tag of the
// profile asked for — never "*", never a control character; and every tag the gateway
// states for a provider tag is recovered from itself, under its profile only.
func FuzzReleasedConditions(f *testing.F) {
	const profile = "AbCdEfGhIjKlMnOp"
	s, err := NewTagSealer()
	if err != nil {
		f.Fatal(err)
	}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, v := range []string{`"x"`, `*`, `W/"gg2.` + profile + `.` + enc(`"v1"`) + `"`, `"gg2.` + enc(`"a", *`) + `"`,
		`"gg2.` + enc("\"a\"\r\nX: 1") + `"`, `"a", "b",, "c"`, `W/`, `""`, strings.Repeat(`"x",`, 20)} {
		f.Add(v, `"v1"`)
	}
	f.Fuzz(func(t *testing.T, inm, provider string) {
		var h fasthttp.RequestHeader
		h.Set("If-None-Match", inm)
		if out := s.ReleasedConditions(&h, profile); len(out) > 0 {
			t.Fatalf("%q forwarded %q: a tag the gateway never sealed opened", inm, out)
		}
		tag, ok := s.ReleasedETag([]byte(provider), profile)
		if !ok {
			return
		}
		if strings.Contains(tag, profile) || (len(provider) > 10 && strings.Contains(tag, strings.Trim(provider, `W/"`))) {
			t.Fatalf("the tag %s shows its profile or %q", tag, provider)
		}
		var back fasthttp.RequestHeader
		back.Set("If-None-Match", tag)
		got := s.ReleasedConditions(&back, profile)
		if !bytes.Equal(got, []byte(provider)) {
			t.Fatalf("the tag %s of %q recovers %q", tag, provider, got)
		}
		if bytes.ContainsAny(got, "\r\n\x00") || string(got) == "*" {
			t.Fatalf("%q forwarded", got)
		}
		var other fasthttp.RequestHeader
		other.Set("If-None-Match", tag)
		if got := s.ReleasedConditions(&other, "ZZZZZZZZZZZZZZZZ"); len(got) != 0 {
			t.Fatalf("another profile recovered %q", got)
		}
	})
}

// FuzzCaptureWhole: whatever a provider sends as Repr-Digest, Content-Range and ETag, what
// the gateway takes from them is a 32-byte digest or none, a range inside its total, and a
// strong entity-tag or none.
func FuzzCaptureWhole(f *testing.F) {
	f.Add("sm3=:AAAA:", "bytes 0-9/10", `"v1"`)
	f.Add("sha-256=:x:, sm3=:"+base64.StdEncoding.EncodeToString(make([]byte, 32))+":", "bytes */10", `W/"v1"`)
	f.Add("", "bytes 5-3/2", `"a"b"`)
	f.Fuzz(func(t *testing.T, repr, cr, etag string) {
		gotRepr, ranged, first, last, total, gotTag := CaptureWhole(206, "Repr-Digest", repr, "Content-Range", cr, "ETag", etag)
		if gotRepr != nil && len(gotRepr) != 32 {
			t.Fatalf("repr %q gave %d bytes", repr, len(gotRepr))
		}
		if ranged && (first < 0 || last < first || total <= last) {
			t.Fatalf("%q gave %d-%d/%d", cr, first, last, total)
		}
		if gotTag != nil && (bytes.HasPrefix(gotTag, []byte("W/")) || gotTag[0] != '"' || gotTag[len(gotTag)-1] != '"') {
			t.Fatalf("%q gave the tag %q", etag, gotTag)
		}
	})
}

// spanForm is RFC 9110 14.4's byte range of a part.
var spanForm = regexp.MustCompile(`^bytes ([0-9]+)-([0-9]+)/([0-9]+|\*)$`)

// FuzzPartialSpan: whatever a provider sends as Content-Range, the span the gateway holds a
// 206's body to is none (0), unreadable (-1), or the positive length of one
// "bytes first-last/total" (total "*" or past last) written in digits.
func FuzzPartialSpan(f *testing.F) {
	for _, cr := range []string{"bytes 0-0/1", "bytes 100-199/*", "bytes */1000", "bytes 0-9223372036854775806/9223372036854775807",
		"bytes 0-9223372036854775807/*", "bytes +1-2/3", "bytes 1-2/2", "bytes 5-3/9", "bytes  1-2/3", "Bytes 1-2/3"} {
		f.Add(cr)
	}
	f.Fuzz(func(t *testing.T, cr string) {
		partial, span := PartialSpan(206, "Content-Range", cr)
		if !partial || span == 0 || span < -1 {
			t.Fatalf("%q: partial %v span %d", cr, partial, span)
		}
		if span < 0 {
			return
		}
		m := spanForm.FindStringSubmatch(cr)
		if m == nil {
			t.Fatalf("%q read as a span of %d", cr, span)
		}
		first, _ := strconv.ParseInt(m[1], 10, 64)
		last, _ := strconv.ParseInt(m[2], 10, 64)
		if last-first+1 != span {
			t.Fatalf("%q read as a span of %d", cr, span)
		}
		if partial, span := PartialSpan(206, "Content-Range", cr, "content-range", cr); !partial || span != -1 {
			t.Fatalf("two fields %q read as a span of %d", cr, span)
		}
	})
}
