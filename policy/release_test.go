package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/internal/race"
)

func allowedTaxDecision(t testing.TB) *Decision {
	t.Helper()
	d, err := newEngine(t, Options{CacheSize: -1}).Decide(context.Background(), taxQuery())
	if err != nil || !d.Allow {
		t.Fatalf("%+v %v", d, err)
	}
	return d
}

func TestFilterJSON(t *testing.T) {
	d := allowedTaxDecision(t)
	cases := []struct{ in, want string }{
		{`{"taxpayer_id":"91110108MA01A2B3C4","name":"北京数联科技有限公司","credit_rating":"A","bank_account":"6222"}`,
			`{"taxpayer_id":"**************B3C4","name":"北京数联科技有限公司"}`},
		{`[{"name":"甲","tax_status":"正常","secret":1},{"registered_on":"2018-05-16"}]`,
			`[{"name":"甲","tax_status":"正常"},{"registered_on":"2018-05-16"}]`},
		{`[]`, `[]`},
		{` {"\u0063redit_rating":"A","name":"x"} `, `{"name":"x"}`},
		{`{"n\u0061me":"x","taxpayer\u005fid":"91110108MA01A2B3C4"}`, `{"n\u0061me":"x","taxpayer\u005fid":"**************B3C4"}`},
		{`{"taxpayer_id":"12345678","name":null}`, `{"taxpayer_id":"****5678","name":null}`},
		{`{"name":"a\"}],[{","bank":{"n":["}"]},"tax_status":"t"}`, `{"name":"a\"}],[{","tax_status":"t"}`},
		{` [ { "name" : "x" } , { } ] `, `[{"name":"x"},{}]`},
	}
	for _, c := range cases {
		out, err := d.FilterJSON([]byte(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if string(out) != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.in, out, c.want)
		}
	}
	for _, bad := range []string{`"a string"`, `42`, `[1,2]`, `[{"name":"x"}, null]`, `{"name":`, `{"name":"x"} trailing`, `nul`} {
		_, err := d.FilterJSON([]byte(bad))
		var re *ReleaseError
		if !errors.As(err, &re) || re.Denied {
			t.Errorf("%s: %v, want a refusal of the provider's body", bad, err)
		}
	}
}

// TestFilterJSONAllocatesNothingPerMember: member names are compared in place, so a body
// of many members costs no more allocations than a body of one.
func TestFilterJSONAllocatesNothingPerMember(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector (sync.Pool drops items at random)")
	}
	d := allowedTaxDecision(t)
	allocs := func(members int) float64 {
		body := []byte(`{"taxpayer_id":"91110108MA01A2B3C4"`)
		for i := range members {
			body = fmt.Appendf(body, `,"name":"甲%d","credit_rating":"A","tax_status":"正常"`, i)
		}
		body = append(body, '}')
		return testing.AllocsPerRun(100, func() { d.FilterJSON(body) })
	}
	if one, many := allocs(1), allocs(30); many > one {
		t.Errorf("FilterJSON allocates %.0f times for 1 set of members, %.0f for 30", one, many)
	}
}

func TestCheckLabel(t *testing.T) {
	d := allowedTaxDecision(t)
	for label, code := range map[string]string{"": "", "public": "", "internal": "", "secret": "LABEL_ABOVE_CEILING", "top-secret": "LABEL_ABOVE_CEILING", "Internal": "LABEL_UNKNOWN", "classified": "LABEL_UNKNOWN"} {
		err := d.CheckLabel(label)
		var re *ReleaseError
		switch {
		case code == "" && err != nil:
			t.Errorf("label %q refused: %v", label, err)
		case code != "" && (!errors.As(err, &re) || re.Reason.Code != code || !re.Denied):
			t.Errorf("label %q: %v, want %s", label, err, code)
		}
	}
	if d.Label() != "internal" {
		t.Errorf("catalog label %q", d.Label())
	}
}

func TestMasks(t *testing.T) {
	for rule, cases := range map[string][][2]string{
		"keep-last-4":  {{"110101199003077777", "**************7777"}, {"123", "**3"}, {"", ""}},
		"keep-first-1": {{"张伟", "张*"}, {"阿依古丽·买买提", "阿*******"}, {"李", "*"}},
		"keep-first-0": {{"abc", "***"}},
		"redact":       {{"anything", "***"}},
	} {
		m, err := parseMask(rule)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			if got := m.apply(c[0]); got != c[1] {
				t.Errorf("%s(%q) = %q, want %q", rule, c[0], got, c[1])
			}
		}
	}
	m, _ := parseMask("sm3")
	if a, b := m.apply("110101199003077777"), m.apply("110101199003077777"); a != b || !strings.HasPrefix(a, "sm3:") || len(a) != 68 || strings.Contains(a, "7777") {
		t.Errorf("sm3 pseudonym %q %q", a, b)
	}
	for _, bad := range []string{"keep-last-", "keep-last-x", "keep-last--1", "keep-last-65", "hash", ""} {
		if _, err := parseMask(bad); err == nil {
			t.Errorf("mask %q accepted", bad)
		}
	}
}

func TestIsJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json": true, "application/json; charset=utf-8": true, "application/json;charset=utf-8": true, "application/problem+json": true,
		"Application/JSON; Charset=UTF-8": true, "application/json; charset": false,
		"text/plain": false, "": false, "application/jsonx": false, "text/json+html": false, "application/octet-stream": false,
	} {
		if IsJSON(ct) != want {
			t.Errorf("IsJSON(%q) = %v", ct, !want)
		}
	}
}

func TestQuotas(t *testing.T) {
	q := NewQuotas()
	quota := Quota{PerMinute: 2, PerDay: 3}
	t0 := time.Date(2026, 11, 29, 23, 58, 10, 0, beijing)
	take := func(at time.Time) bool { _, ok := q.Take("110000-rensheju", "AGR-1", quota, at); return ok }
	if !take(t0) || !take(t0.Add(time.Second)) {
		t.Fatal("within quota refused")
	}
	if r, ok := q.Take("110000-rensheju", "AGR-1", quota, t0.Add(2*time.Second)); ok || r.Code != "QUOTA_EXCEEDED" || !strings.Contains(r.Message, "minute") {
		t.Fatalf("third in a minute: %v %+v", ok, r)
	}
	if _, ok := q.Take("110000-shuiwu", "AGR-1", quota, t0); !ok {
		t.Error("another consumer shares the count")
	}
	if !take(t0.Add(time.Minute)) {
		t.Error("next minute refused")
	}
	if r, ok := q.Take("110000-rensheju", "AGR-1", quota, t0.Add(time.Minute+time.Second)); ok || !strings.Contains(r.Message, "a day") {
		t.Errorf("fourth in a day: %v %+v", ok, r)
	}
	// The day turns at midnight in Beijing, 16:00 UTC.
	if !take(time.Date(2026, 11, 30, 0, 0, 0, 0, beijing)) {
		t.Error("a new day refused")
	}
	if _, ok := q.Take("x", "y", Quota{}, t0); !ok {
		t.Error("no quota refused")
	}
}

func FuzzFilterJSON(f *testing.F) {
	d := allowedTaxDecision(f)
	for _, s := range []string{`{"name":"x","taxpayer_id":"123456"}`, `[{"name":1}]`, `[]`, `{}`, `"x"`, `{"a":[1,{"b":2}]}`, "{\"name\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := d.FilterJSON(body)
		if err != nil {
			var re *ReleaseError
			if !errors.As(err, &re) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if len(out) == 0 {
			return
		}
		// Whatever passes is valid JSON holding only granted fields.
		var v any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("released invalid JSON %q: %v", out, err)
		}
		objs := []any{v}
		if arr, ok := v.([]any); ok {
			objs = arr
		}
		for _, o := range objs {
			for k := range o.(map[string]any) {
				if k != "name" && k != "registered_on" && k != "tax_status" && k != "taxpayer_id" {
					t.Fatalf("released field %q", k)
				}
			}
		}
	})
}

// TestFilterJSONFieldTypes: a granted field is released only as the JSON type the catalog
// declares for it. An object or array where the catalog promises a string carries nested
// data no agreement names; it is refused, not passed whole and not masked as text.
func TestFilterJSONFieldTypes(t *testing.T) {
	d := allowedTaxDecision(t)
	for _, bad := range []string{
		`{"name":{"nested":"not named by any agreement"}}`,
		`{"name":["a","b"]}`,
		`{"name":1}`,
		`{"tax_status":true}`,
		`{"tax_status":false}`,
		`{"taxpayer_id":12345678}`, // masked: the mask must not turn it into a string
		`{"taxpayer_id":{"id":"91110108MA01A2B3C4"}}`,
		`{"registered_on":20180516}`,
		`{"registered_on":{"y":2018}}`,
		`[{"name":"x"},{"name":["y"]}]`,
		`{"credit_rating":"A","name":{}}`,
	} {
		_, err := d.FilterJSON([]byte(bad))
		var re *ReleaseError
		if !errors.As(err, &re) || re.Denied || re.Reason.Code != "RESPONSE_FIELD_TYPE" {
			t.Errorf("%s: %v, want RESPONSE_FIELD_TYPE", bad, err)
		}
	}
	// Fields outside the grant are cut whatever their type; null is every type's.
	out, err := d.FilterJSON([]byte(`{"name":null,"registered_on":"2018-05-16","bank_account":{"n":1},"credit_rating":[1]}`))
	if err != nil || string(out) != `{"name":null,"registered_on":"2018-05-16"}` {
		t.Errorf("%s %v", out, err)
	}
}

func TestCheckType(t *testing.T) {
	types := map[string]FieldSpec{"s": {Type: "string"}, "n": {Type: "number"}, "i": {Type: "integer"},
		"b": {Type: "boolean"}, "d": {Type: "date"}, "t": {Type: "datetime"}}
	for _, c := range []struct {
		field, value string
		ok           bool
	}{
		{"s", `"x"`, true}, {"s", `1`, false}, {"s", `{}`, false}, {"s", `[]`, false}, {"s", `null`, true},
		{"n", `-1.5e3`, true}, {"n", `"1"`, false}, {"n", `true`, false},
		{"i", `42`, true}, {"i", `-7`, true}, {"i", `4.2`, false}, {"i", `1e3`, false},
		{"b", `true`, true}, {"b", `false`, true}, {"b", `"true"`, false}, {"b", `0`, false},
		{"d", `"2018-05-16"`, true}, {"d", `{}`, false}, {"t", `"2018-05-16T00:00:00Z"`, true},
		{"undeclared", `"x"`, false}, {"undeclared", `null`, true},
	} {
		err := checkType(types, []byte(c.field), []byte(c.value))
		if (err == nil) != c.ok {
			t.Errorf("%s %s: %v", c.field, c.value, err)
		}
	}
}

// TestReleasedLabelNeverBelowTheCatalog: the label written on a released response is the
// provider's only when it is not below the catalog's for the resource.
func TestReleasedLabelNeverBelowTheCatalog(t *testing.T) {
	d := allowedTaxDecision(t)
	for provider, want := range map[string]string{"": "internal", "public": "internal", "internal": "internal"} {
		if got := d.ReleasedLabel(provider); got != want {
			t.Errorf("provider label %q: released as %q, want %q", provider, got, want)
		}
	}
}

// TestAppendFilteredJSONIntoAReusedBuffer: with room in dst the cut is written there,
// says what FilterJSON says, and does not keep a longer earlier body's tail; a refusal
// returns nil and leaves dst's bytes as they were.
func TestAppendFilteredJSONIntoAReusedBuffer(t *testing.T) {
	d := allowedTaxDecision(t)
	long := []byte(`[{"taxpayer_id":"1","name":"甲","credit_rating":"A","tax_status":"正常","bank_account":"6222"},{"taxpayer_id":"2","name":"乙","credit_rating":"B","tax_status":"正常","bank_account":"6223"}]`)
	short := []byte(`{"taxpayer_id":"3","name":"丙","bank_account":"6224"}`)
	buf := make([]byte, 0, 4096)
	for _, body := range [][]byte{long, short, long} {
		want, err := d.FilterJSON(body)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.AppendFilteredJSON(buf[:0], body)
		if err != nil || string(got) != string(want) {
			t.Fatalf("AppendFilteredJSON = %s, %v; FilterJSON = %s", got, err, want)
		}
		if &got[0] != &buf[:1][0] {
			t.Fatal("AppendFilteredJSON did not write into the buffer it was given room in")
		}
	}
	prefix := append(buf[:0], "kept"...)
	if got, err := d.AppendFilteredJSON(prefix, []byte(`{"name":`)); err == nil || got != nil || string(buf[:4]) != "kept" {
		t.Fatalf("a body that is not JSON: %q, %v; the buffer's bytes %q", got, err, buf[:4])
	}
}

// TestAppendFilteredJSONAllocatesNoBuffer: with room in dst the cut's buffer is not
// allocated, and a masked member is masked where it lies: nothing is allocated at all.
func TestAppendFilteredJSONAllocatesNoBuffer(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	d := allowedTaxDecision(t)
	long := []byte(`[{"taxpayer_id":"1","name":"甲","credit_rating":"A","tax_status":"正常","bank_account":"6222"},{"taxpayer_id":"2","name":"乙","credit_rating":"B","tax_status":"正常","bank_account":"6223"}]`)
	buf := make([]byte, 0, 4096)
	fresh := testing.AllocsPerRun(100, func() { d.FilterJSON(long) })
	room := testing.AllocsPerRun(100, func() { d.AppendFilteredJSON(buf[:0], long) })
	if room != 0 || fresh != 1 {
		t.Errorf("AppendFilteredJSON with room allocates %.0f times a body, FilterJSON %.0f; want 0 and 1", room, fresh)
	}
}
