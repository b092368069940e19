package policy

import (
	"errors"
	"strings"
	"testing"
)

// NDJSON is UTF-8 (RFC 8259 §8.1), as the CSV is: a provider that declares another
// charset, or sends bytes that are not UTF-8, is refused like a CSV in GBK, rather than
// passed on for the consumer to read in a charset the cut was not made in (in GBK a
// trail byte 0x5C is the backslash the cut took as an escape).
func TestNDJSONNotUTF8Refused(t *testing.T) {
	for _, ct := range []string{"application/x-ndjson; charset=gbk", "application/jsonl; charset=GB18030", "application/x-ndjson; charset=latin1"} {
		if got := TabularType(ct); got != "" {
			t.Errorf("%q released as %q", ct, got)
		}
	}
	for _, ct := range []string{"application/x-ndjson; charset=utf-8", "APPLICATION/X-NDJSON", "text/CSV"} {
		if got := TabularType(ct); got == "" {
			t.Errorf("%q refused", ct)
		}
	}
	d := allowedTaxDecision(t)
	in := "{\"name\":\"\x81\\\"\"}\n"
	out, _, err := cutAll(taxCutter(t, d, MediaNDJSON), []byte(in), 1<<20)
	var re *ReleaseError
	if !errors.As(err, &re) || re.Reason.Code != "ROW_MALFORMED" {
		t.Errorf("a line that is not UTF-8: %q %v, want ROW_MALFORMED", out, err)
	}
}

// Checked sound: a member repeated (first or last wins, depending on the consumer's
// parser) is masked every time it appears, escaped names are masked as the name they
// decode to, and prototype-like names are dropped as any name the agreement lacks.
func TestNDJSONDuplicateAndEscapedMembersMasked(t *testing.T) {
	d := allowedTaxDecision(t)
	in := `{"taxpayer_id":"91110108MA01A2B3C4","taxpayer_id":"91110108MA01ZZZZZZ","taxpayer\u005fid":"91110108MA01YYYYYY","__proto__":{"credit_rating":"A"},"constructor":1}` + "\n"
	out, rows, err := cutAll(taxCutter(t, d, MediaNDJSON), []byte(in), 5)
	if err != nil || rows != 1 {
		t.Fatalf("%d %q %v", rows, out, err)
	}
	for _, secret := range []string{"91110108MA01", "credit_rating", "__proto__", "constructor"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("%q leaked in %q", secret, out)
		}
	}
}

// Checked sound: a header name that differs from a catalogued field only by case, spaces,
// a byte order mark not at the start or a quoted repeat of a released column is refused;
// a quoted field or a "" escape split anywhere across reads cuts the same.
func TestCSVHeaderLookalikesRefused(t *testing.T) {
	d := allowedTaxDecision(t)
	for in, code := range map[string]string{
		"Name\nx\n":                    "CSV_UNKNOWN_COLUMN",
		"name \nx\n":                   "CSV_UNKNOWN_COLUMN",
		" name\nx\n":                   "CSV_UNKNOWN_COLUMN",
		"name,\ufefftax_status\nx,y\n": "CSV_UNKNOWN_COLUMN",
		"name,\"name\"\nx,y\n":         "CSV_DUPLICATE_COLUMN",
		"\ufeff\ufeffname\nx\n":        "CSV_UNKNOWN_COLUMN",
	} {
		for _, chunk := range []int{1, 3, 1 << 20} {
			_, _, err := cutAll(taxCutter(t, d, MediaCSV), []byte(in), chunk)
			var re *ReleaseError
			if !errors.As(err, &re) || re.Reason.Code != code {
				t.Errorf("%q (chunk %d): %v, want %s", in, chunk, err, code)
			}
		}
	}
}
