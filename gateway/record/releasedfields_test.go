package record

import (
	"slices"
	"testing"

	"github.com/govgate/govgate/internal/race"
)

func TestReleasedFields(t *testing.T) {
	fields := []string{"name", "tax_status", "taxpayer_id"}
	for _, c := range []struct {
		body string
		want []string
		ok   bool
	}{
		{`{}`, []string{}, true},
		{` [ ] `, []string{}, true},
		{`{"name":"a","tax_status":"b","taxpayer_id":"c"}`, fields, true},
		{`{"tax_status":"x\"name\":"}`, []string{"tax_status"}, true},
		{`[{"name":1},{"taxpayer_id":null}]`, []string{"name", "taxpayer_id"}, true},
		{`{"n\u0061me":"a","other":{"tax_status":1}}`, []string{"name"}, true},
		{`{"name":"a"`, nil, false},
		{`"name"`, nil, false},
		{`[1]`, nil, false},
		{`{"name":}`, nil, false},
		{`{"name":"a"} x`, nil, false},
		{`{"name" "a"}`, nil, false},
		{`[{"name":"a"},`, nil, false},
		{`{"a":[{"b":"\\"}]}`, []string{}, true},
	} {
		got, ok := releasedFields([]byte(c.body), fields, nil)
		if ok != c.ok || (ok && !slices.Equal(got, c.want)) {
			t.Errorf("%s: %v %v, want %v %v", c.body, got, ok, c.want, c.ok)
		}
	}
	if got, _ := releasedFields([]byte(`{"name":1,"tax_status":2,"taxpayer_id":3}`), fields, nil); &got[0] != &fields[0] {
		t.Error("every field present: want the decision's own slice")
	}
}

func FuzzReleasedFields(f *testing.F) {
	f.Add([]byte(`[{"name":"a","x":{"y":[1,"\""]}}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		releasedFields(b, []string{"name", "x"}, nil)
	})
}

// TestReleasedFieldsAllocatesNothing: scanning a released body whose member names have no
// escapes allocates nothing — the scan runs for every audited exchange. A name with an
// escape is still decoded (and may allocate).
func TestReleasedFieldsAllocatesNothing(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	body := []byte(`[{"uscc":"9111","name":"北京数联","status":"存续","address":"北京市"},{"uscc":"9112","name":"x"}]`)
	fields := []string{"uscc", "name", "status"}
	if a := testing.AllocsPerRun(200, func() {
		if got, ok := releasedFields(body, fields, nil); !ok || len(got) != 3 {
			t.Fatalf("releasedFields = %v, %v", got, ok)
		}
	}); a != 0 {
		t.Fatalf("releasedFields allocates %.1f times per body; want 0", a)
	}
	escaped := []byte(`{"na\u006de":"x"}`)
	if got, ok := releasedFields(escaped, []string{"name"}, nil); !ok || len(got) != 1 || got[0] != "name" {
		t.Fatalf("an escaped member name is not decoded: %v, %v", got, ok)
	}
}
