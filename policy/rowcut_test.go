package policy

import (
	"bytes"
	"encoding/csv"
	"errors"
	"strings"
	"testing"
)

// cutAll drives a fresh cutter over in, chunk bytes at a time, as the gateway's window
// does: what a row left incomplete is given again with the next bytes behind it.
func cutAll(c RowCutter, in []byte, chunk int) (out []byte, rows int, err error) {
	var pend []byte
	for i := 0; ; {
		end := min(len(in), i+chunk)
		pend = append(pend, in[i:end]...)
		i = end
		final := i == len(in)
		var used, r int
		out, used, r, err = c.Cut(out, pend, final)
		rows += r
		if err != nil {
			return out, rows, err
		}
		pend = append(pend[:0], pend[used:]...)
		if final {
			if len(pend) > 0 {
				return out, rows, errors.New("bytes left after the final cut")
			}
			return out, rows, nil
		}
	}
}

func taxCutter(t testing.TB, d *Decision, mt string) RowCutter {
	c, err := d.RowCutter(mt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCSVCutter(t *testing.T) {
	cases := []struct{ name, in, want, code string }{
		{"columns and masks", "taxpayer_id,credit_rating,name\r\n91110108MA01A2B3C4,A,\"甲,乙\"\r\n",
			"taxpayer_id,name\r\n**************B3C4,\"甲,乙\"\r\n", ""},
		{"LF, BOM, quotes and newlines", "\ufeffname,tax_status,tax_authority\n\"a \"\"b\"\"\nc\",正常,海淀\nd,,\n",
			"name,tax_status\n\"a \"\"b\"\"\nc\",正常\nd,\n", ""},
		{"last row without a line end", "name\nx", "name\nx\n", ""},
		{"empty", "", "", ""},
		{"unknown column", "name,bank_account\nx,1\n", "", "CSV_UNKNOWN_COLUMN"},
		{"duplicate column", "name,name\nx,y\n", "", "CSV_DUPLICATE_COLUMN"},
		{"short row", "name,tax_status\nx\n", "name,tax_status\n", "ROW_MALFORMED"},
		{"quote inside a field", "name\nab\"c\n", "name\n", "ROW_MALFORMED"},
		{"after a closing quote", "name\n\"ab\"c\n", "name\n", "ROW_MALFORMED"},
		{"unclosed quote", "name\n\"abc\n", "name\n", "ROW_MALFORMED"},
		{"bare CR", "name\rx\n", "", "ROW_MALFORMED"},
		{"not UTF-8", "name\n\xff\n", "name\n", "ROW_MALFORMED"},
	}
	d := allowedTaxDecision(t)
	for _, c := range cases {
		for _, chunk := range []int{1, 2, 3, 5, 1 << 20} {
			out, _, err := cutAll(taxCutter(t, d, MediaCSV), []byte(c.in), chunk)
			var re *ReleaseError
			if c.code == "" && err != nil || c.code != "" && (!errors.As(err, &re) || re.Reason.Code != c.code) {
				t.Errorf("%s (chunk %d): error %v, want %s", c.name, chunk, err, c.code)
			}
			if string(out) != c.want {
				t.Errorf("%s (chunk %d): %q, want %q", c.name, chunk, out, c.want)
			}
		}
	}
}

func TestNDJSONCutter(t *testing.T) {
	d := allowedTaxDecision(t)
	in := `{"taxpayer_id":"91110108MA01A2B3C4","bank":"x","name":"甲"}` + "\r\n\n" + `{"credit_rating":"A"}` + "\n" + `{"name":1}`
	_, _, err := cutAll(taxCutter(t, d, MediaNDJSON), []byte(in), 7)
	var re *ReleaseError
	if !errors.As(err, &re) || re.Reason.Code != "RESPONSE_FIELD_TYPE" {
		t.Errorf("a member of the wrong type: %v", err)
	}
	in = strings.TrimSuffix(in, `{"name":1}`)
	out, rows, err := cutAll(taxCutter(t, d, MediaJSONL), []byte(in), 3)
	if err != nil || rows != 2 || string(out) != `{"taxpayer_id":"**************B3C4","name":"甲"}`+"\n{}\n" {
		t.Errorf("%d %q %v", rows, out, err)
	}
	for _, bad := range []string{"[1]\n", "{\"name\":\"x\"\n", "\"s\"\n", "{}{}\n"} {
		if _, _, err := cutAll(taxCutter(t, d, MediaNDJSON), []byte(bad), 2); err == nil {
			t.Errorf("%q was released", bad)
		}
	}
}

func TestTabularType(t *testing.T) {
	for ct, want := range map[string]string{
		"text/csv": MediaCSV, "text/csv; charset=UTF-8": MediaCSV, "text/csv; charset=gbk": "", "application/x-ndjson": MediaNDJSON,
		"application/jsonl": MediaJSONL, "application/json": "", "application/zip": "", "text/csv;;": "",
	} {
		if got := TabularType(ct); got != want {
			t.Errorf("%q: %q, want %q", ct, got, want)
		}
	}
}

// FuzzCSVCutter: whatever a provider sends, the cutter does not panic, cuts the same
// however the bytes are split across reads, and releases only well-formed CSV with the
// released columns and no more rows than it counted.
func FuzzCSVCutter(f *testing.F) {
	f.Add([]byte("\ufefftaxpayer_id,name,tax_status\r\n91110108MA01A2B3C4,\"a,\"\"b\"\"\nc\",正常\r\n"), 3)
	f.Add([]byte("name\n\"x\"y\n"), 1)
	f.Add([]byte("name,credit_rating\nx,A\ny"), 2)
	d := allowedTaxDecision(f)
	f.Fuzz(func(t *testing.T, in []byte, chunk int) {
		if chunk < 1 || chunk > len(in)+1 {
			chunk = len(in) + 1
		}
		whole, wholeRows, wholeErr := cutAll(mustCutter(t, d, MediaCSV), in, len(in)+1)
		split, splitRows, splitErr := cutAll(mustCutter(t, d, MediaCSV), in, chunk)
		if (wholeErr == nil) != (splitErr == nil) || !bytes.Equal(whole, split) || wholeRows != splitRows {
			t.Fatalf("split in %d: %q %v / %q %v", chunk, whole, wholeErr, split, splitErr)
		}
		if wholeErr != nil || len(whole) == 0 {
			return
		}
		recs, err := csv.NewReader(bytes.NewReader(whole)).ReadAll()
		if err != nil {
			t.Fatalf("released CSV does not parse: %q: %v", whole, err)
		}
		if len(recs)-1 != wholeRows {
			t.Fatalf("%d rows released, %d counted", len(recs)-1, wholeRows)
		}
		for _, name := range recs[0] {
			if name != "taxpayer_id" && name != "name" && name != "tax_status" && name != "registered_on" {
				t.Fatalf("column %q released", name)
			}
		}
	})
}

// FuzzNDJSONCutter: the same for NDJSON; every released line is a JSON object of released
// members.
func FuzzNDJSONCutter(f *testing.F) {
	f.Add([]byte(`{"name":"x","bank":1}`+"\r\n"+`{"tax_status":"a"}`), 4)
	f.Add([]byte("{\"name\":\"\\n\"}\n[]\n"), 1)
	d := allowedTaxDecision(f)
	f.Fuzz(func(t *testing.T, in []byte, chunk int) {
		if chunk < 1 || chunk > len(in)+1 {
			chunk = len(in) + 1
		}
		whole, _, wholeErr := cutAll(mustCutter(t, d, MediaNDJSON), in, len(in)+1)
		split, _, splitErr := cutAll(mustCutter(t, d, MediaNDJSON), in, chunk)
		if (wholeErr == nil) != (splitErr == nil) || !bytes.Equal(whole, split) {
			t.Fatalf("split in %d: %q %v / %q %v", chunk, whole, wholeErr, split, splitErr)
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(whole, []byte("\n")), []byte("\n")) {
			if len(whole) == 0 {
				break
			}
			out, err := d.FilterJSON(line)
			if err != nil || !bytes.Equal(out, line) {
				t.Fatalf("released line %q is not already cut (%q, %v)", line, out, err)
			}
		}
	})
}

func mustCutter(t *testing.T, d *Decision, mt string) RowCutter {
	c, err := d.RowCutter(mt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
