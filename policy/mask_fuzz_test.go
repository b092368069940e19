package policy

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/govgate/govgate/crypto"
)

// applyAsBefore is maskRule.apply as it was before appendMasked, kept verbatim so that
// the oracle below does not share the code it judges (apply now calls appendMasked).
func applyAsBefore(m maskRule, s string) string {
	switch m.kind {
	case "redact":
		return "***"
	case "sm3":
		sum := crypto.SM3([]byte(s))
		return "sm3:" + hex.EncodeToString(sum[:])
	}
	count := utf8.RuneCountInString(s)
	keep := min(m.n, count/2)
	var b strings.Builder
	i := 0
	for _, r := range s {
		visible := (m.kind == "keep-first" && i < keep) || (m.kind == "keep-last" && i >= count-keep)
		if visible {
			b.WriteRune(r)
		} else {
			b.WriteByte('*')
		}
		i++
	}
	return b.String()
}

// maskedValueAsBefore is how a masked value was written before appendMaskedValue: the
// value unquoted by encoding/json (its JSON text if it is not a string), masked by apply,
// and encoded by json.Marshal. Released bodies must not change by a byte.
func maskedValueAsBefore(v []byte, m maskRule) []byte {
	v = bytes.TrimSpace(v)
	if string(v) == "null" {
		return v
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		s = string(v)
	}
	out, _ := json.Marshal(applyAsBefore(m, s))
	return out
}

var fuzzMasks = []string{"keep-last-4", "keep-first-1", "keep-first-0", "keep-last-64", "redact", "sm3"}

// fuzzMask is the mask which selects: the fixed ones, then every keep-first-N and
// keep-last-N, N from 0 to 64, so that the keep boundaries are fuzzed too.
func fuzzMask(which uint8) string {
	i := int(which)
	if i < len(fuzzMasks) {
		return fuzzMasks[i]
	}
	i -= len(fuzzMasks)
	kind := []string{"keep-first", "keep-last"}[i%2]
	return fmt.Sprintf("%s-%d", kind, (i/2)%65)
}

// FuzzMaskedValueAsBefore: for every JSON value and every kind of mask, the masked value
// appended in place is byte for byte what unquoting, masking and json.Marshal gave —
// escapes, HTML characters, U+2028, invalid UTF-8 and non-string values included.
func FuzzMaskedValueAsBefore(f *testing.F) {
	for _, v := range []string{
		`"110101199003077777"`, `"张伟"`, `"a"`, `""`, `null`, `12345678`, `-1.5e3`, `true`,
		`{"a":"b"}`, `[1,"x"]`, `"<script>&amp;</script>"`, `"line\u2028sep\u2029"`, "\"raw\u2028sep\"",
		`"esc\"aped\\\/\b\f\n\r\t\u0001"`, `"\ud83d\ude00 emoji"`, `"\ud800 lone"`, "\"bad \xff\xfe utf8\"",
		"\"\x7f del\"", `"` + "\xef\xbf\xbd" + `"`, " \"spaced\" ", `"ctl \u001f"`,
	} {
		for i := range fuzzMasks {
			f.Add([]byte(v), uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, v []byte, which uint8) {
		if !json.Valid(v) {
			return // the release stage masks values of validated bodies only
		}
		m, err := parseMask(fuzzMask(which))
		if err != nil {
			t.Fatal(err)
		}
		want := maskedValueAsBefore(v, m)
		got := appendMaskedValue([]byte("prefix:"), v, m)
		if string(got) != "prefix:"+string(want) {
			t.Fatalf("%q masked %v: %q, before %q", v, m, got, want)
		}
		// apply, which the unfiltered paths use, unchanged too.
		var s string
		if v[0] == '"' && json.Unmarshal(v, &s) == nil {
			if got, want := m.apply(s), applyAsBefore(m, s); got != want {
				t.Fatalf("apply(%q) by %v: %q, before %q", s, m, got, want)
			}
		}
	})
}

// TestMaskedValueAllocatesNothing: a string without escapes is masked where it lies.
func TestMaskedValueAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	out, v := make([]byte, 0, 256), []byte(`"110101199003077777"`)
	for _, rule := range fuzzMasks {
		m, _ := parseMask(rule)
		if n := testing.AllocsPerRun(100, func() { appendMaskedValue(out[:0], v, m) }); n != 0 {
			t.Errorf("mask %s: %.0f allocations a value", rule, n)
		}
	}
}

// TestMaskedValueAsBeforeAtTheEdges: what the fuzzer is unlikely to reach by mutation —
// strings longer than any keep, every keep boundary (N at, under and over half the
// length), U+FFFD written out against the invalid bytes encoding/json turns into it,
// surrogates as raw bytes and as escapes, overlong and truncated sequences, and
// non-string values with whitespace and escapes inside — masked as json.Marshal of the
// old apply did, under every mask.
func TestMaskedValueAsBeforeAtTheEdges(t *testing.T) {
	long := strings.Repeat("张伟<&>\u2028a", 2000)
	values := []string{
		`"` + long + `"`, `"` + long + `\n"`, `"` + strings.Repeat("x", 128) + `"`, `"` + strings.Repeat("x", 129) + `"`,
		"\"\xef\xbf\xbd\xef\xbf\xbd\"", "\"\xff\xef\xbf\xbd\"", "\"\xed\xa0\x80\xed\xb0\x80\"", `"\ud83d\ude00\ud800\udc00\udfff"`,
		"\"\xc0\x80 overlong\"", "\"trunc \xe4\xbd\"", "\"\xf8\x88\x80\x80\x80\"", "\"\xf4\x90\x80\x80 over max\"",
		"\"\xff\\n both\"", `"\u2028\u2029"`, "\"\u2028\u2029\"", `"\u0000"`, "\"\x7f\x7f\x7f\x7f\"",
		"{ \"a\" :\n\t[ 1 , \"<\\\"x\\\">\" ] }", "[\"\xff\"]", "-0.0e+10", "\t\"tabbed\"\r\n", `"` + strings.Repeat(`\\`, 70) + `"`,
	}
	for _, v := range values {
		if !json.Valid([]byte(v)) {
			t.Fatalf("%q is not JSON", v)
		}
		for which := range 256 {
			m, err := parseMask(fuzzMask(uint8(which)))
			if err != nil {
				t.Fatal(err)
			}
			want := maskedValueAsBefore([]byte(v), m)
			if got := appendMaskedValue(nil, []byte(v), m); string(got) != string(want) {
				t.Fatalf("%.60q masked %v: %.80q, before %.80q", v, m, got, want)
			}
		}
	}
	// And refused: a value is never released as it was, whatever the mask.
	for _, rule := range fuzzMasks[:5] {
		m, _ := parseMask(rule)
		if got := appendMaskedValue(nil, []byte(`"110101199003077777"`), m); string(got) == `"110101199003077777"` {
			t.Errorf("%s released the value unmasked", rule)
		}
	}
}
