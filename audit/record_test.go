package audit

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func sampleRecord() *Record {
	return &Record{Kind: KindExchange,
		Seq: 42, Time: time.Date(2026, 11, 29, 2, 0, 0, 123000000, time.UTC), Gateway: "gw-1", RequestID: "abc-1",
		Client: "10.1.2.3:5555", Consumer: Consumer{Dept: "110000-rensheju", System: "养老审核", CertSerial: "1a2b"},
		Provider: "tax", Upstream: "10.0.0.9:8080", Route: "tax-query", Resource: "tax.registration", Mode: "query",
		Method: "GET", Path: "/tax/v1/x?id=1", Agreement: "AGR-1", Purpose: "check",
		Decision: &Decision{Allow: false, Reasons: []string{"AGREEMENT_EXPIRED"}, Revision: "r1"},
		Error:    "denied", Status: 403, Fields: []string{}, Bytes: Bytes{Request: 0, Response: 120}, LatencyMicros: 812,
		Signature: &Signature{Base: "\"@method\": GET\n", Input: `govgate=("@method")`, Signature: "govgate=:AAA=:"},
		Version:   RecordVersion,
	}
}

func TestRecordEncodingIsCanonical(t *testing.T) {
	r := sampleRecord()
	b := r.Encode()
	canon, err := Canonicalize(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(canon) != string(b) {
		t.Fatalf("encoding is not canonical:\n%s\n%s", b, canon)
	}
	back, err := ParseRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(back.Encode()) != string(b) || back.Consumer.System != "养老审核" || back.Seq != 42 {
		t.Errorf("round trip: %+v", back)
	}
	r.Decision, r.Signature, r.Fields = nil, nil, nil
	if _, err := ParseRecord(r.Encode()); err != nil {
		t.Errorf("record without decision and signature: %v", err)
	}
}

func TestParseRecordRefusesNonCanonical(t *testing.T) {
	b := string(sampleRecord().Encode())
	for name, bad := range map[string]string{
		"whitespace":       strings.Replace(b, `"seq":42`, `"seq": 42`, 1),
		"reordered":        strings.Replace(b, `{"agreement":"AGR-1","bytes"`, `{"bytes"`, 1) + "",
		"extra member":     strings.Replace(b, `"v":2}`, `"v":2,"w":2}`, 1),
		"escaped ASCII":    strings.Replace(b, `"gw-1"`, `"gw\u002d1"`, 1),
		"duplicate member": strings.Replace(b, `"v":2}`, `"v":2,"v":2}`, 1),
		"float":            strings.Replace(b, `"status":403`, `"status":403.0`, 1),
		"trailing data":    b + "{}",
		"other version":    strings.Replace(b, `"v":2}`, `"v":3}`, 1),
		"v1 with a kind":   strings.Replace(b, `"v":2}`, `"v":1}`, 1),
		"v2 without kind":  strings.Replace(b, `"kind":"exchange",`, ``, 1),
		"v2 without role":  strings.Replace(b, `"role":"",`, ``, 1),
	} {
		if _, err := ParseRecord([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCanonicalizeRFC8785(t *testing.T) {
	for in, want := range map[string]string{
		`{"b":1, "a":[true,null,"x"]}`:  `{"a":[true,null,"x"],"b":1}`,
		`"\u00e9\u0001\/"`:              `"é\u0001/"`,
		`{"\ufb33":2,"\ud83d\ude00":1}`: "{\"\U0001F600\":1,\"\ufb33\":2}", // U+1F600 (D83D DE00) sorts before U+FB33 in UTF-16, after it in UTF-8
		`{"": {}, "a\n": []}`:           `{"":{},"a\n":[]}`,
		`-0`:                            `0`,
	} {
		got, err := Canonicalize([]byte(in))
		if in == `-0` {
			if err == nil {
				t.Errorf("-0 accepted as %s", got)
			}
			continue
		}
		if err != nil || string(got) != want {
			t.Errorf("%s: %s %v, want %s", in, got, err, want)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add(sampleRecord().Encode())
	f.Add(adminRecord().Encode())
	v1 := sampleRecord()
	v1.Version = recordVersion1
	f.Add(v1.Encode())
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"seq":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Parsed from a buffer then written over, as a reader's window is: the record keeps
		// what was read (its strings are its own, not views of the buffer).
		buf := bytes.Clone(b)
		r, err := ParseRecord(buf)
		if err != nil {
			return
		}
		for i := range buf {
			buf[i] = '"'
		}
		if string(r.Encode()) != string(b) {
			t.Fatalf("accepted %q, which encodes back as %q once its buffer is reused", b, r.Encode())
		}
	})
}

// FuzzAppendString holds appendString's run copying to the plain definition: every rune
// as itself but ", \ and controls escaped, and each invalid byte as U+FFFD.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"b\`, "tab\tnl\nnul\x00\x1f", "北京数联", "\xff\xfe", "a\xe2\x82", "\xef\xbf\xbd", "\xed\xa0\x80x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := []byte{'"'}
		for _, r := range s {
			switch {
			case r == '"' || r == '\\':
				want = append(want, '\\', byte(r))
			case r == '\b':
				want = append(want, `\b`...)
			case r == '\f':
				want = append(want, `\f`...)
			case r == '\n':
				want = append(want, `\n`...)
			case r == '\r':
				want = append(want, `\r`...)
			case r == '\t':
				want = append(want, `\t`...)
			case r < 0x20:
				want = fmt.Appendf(want, `\u%04x`, r)
			default:
				want = utf8.AppendRune(want, r)
			}
		}
		want = append(want, '"')
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}
