package policy

import (
	"bytes"
	"encoding/json"
	"testing"
)

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
	out, _ := json.Marshal(m.apply(s))
	return out
}

var fuzzMasks = []string{"keep-last-4", "keep-first-1", "keep-first-0", "keep-last-64", "redact", "sm3"}

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
		m, err := parseMask(fuzzMasks[int(which)%len(fuzzMasks)])
		if err != nil {
			t.Fatal(err)
		}
		want := maskedValueAsBefore(v, m)
		got := appendMaskedValue([]byte("prefix:"), v, m)
		if string(got) != "prefix:"+string(want) {
			t.Fatalf("%q masked %v: %q, before %q", v, m, got, want)
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
