package policy

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// checkedShipped is the shipped policy compiled, with its plan, for the fuzz targets.
func checkedShipped(f *testing.F) *Revision {
	rev, err := Compile(context.Background(), shippedFiles(f))
	if err != nil {
		f.Fatal(err)
	}
	if rev.plan == nil {
		f.Fatalf("the shipped policy has no plan: %v", rev.planErr)
	}
	return rev
}

// FuzzFastPath decides fuzzed gateway inputs both ways on the shipped policy: the fast
// path either declines or gives exactly the full evaluation's decision document.
func FuzzFastPath(f *testing.F) {
	rev := checkedShipped(f)
	q := taxQuery()
	f.Add(q.Subject.Dept, q.Resource, q.Request.Purpose, q.Request.Agreement, q.Request.Method, q.Route.Mode, q.Route.SourceZone, q.Route.TargetZone, true, int64(0))
	f.Add("110000-minzheng", "social_insurance.contributions", "minimum-living-allowance-review", "AGR-2027-0003", "GET", "query", "internal", "internal", true, int64(40*24*time.Hour))
	f.Add("", "population.case_records", "", "", "DELETE", "publish", "internet", "dmz", false, int64(-1))
	f.Add("110000-rensheju", "enterprise.registration", "", "", "HEAD", "exchange", "external", "internet", true, int64(-5*365*24*time.Hour))
	f.Fuzz(func(t *testing.T, dept, resource, purpose, agreement, method, mode, src, dst string, signed bool, offset int64) {
		in := &Input{
			Subject:  Subject{Dept: dept, System: "s", CertSerial: "01", Auth: "tlcp", Signed: signed},
			Request:  Request{Method: method, Path: "/", Purpose: purpose, Agreement: agreement},
			Route:    Route{ID: "r", Mode: mode, SourceZone: src, TargetZone: dst},
			Resource: resource,
			Time:     at.Add(time.Duration(offset)),
		}
		if _, err := rev.compareOn(context.Background(), in.value(rev)); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzFastPathJSON does the same for any JSON object as input, of any shape and types.
func FuzzFastPathJSON(f *testing.F) {
	rev := checkedShipped(f)
	f.Add([]byte(taxQuery().value(rev).String()))
	f.Add([]byte(`{"subject": {"dept": 7, "signed": "yes"}, "resource": {"id": ["tax.registration"]}, "time": null}`))
	f.Add([]byte(`{"subject": {"dept": "110000-rensheju"}, "request": {"agreement": true, "purpose": {}}, "route": {"mode": "query"}, "resource": {"id": "tax.registration"}, "time": "2026-11-29T10:00:00+08:00"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := ast.ValueFromReader(bytes.NewReader(raw))
		if err != nil {
			return
		}
		if _, ok := v.(ast.Object); !ok {
			return
		}
		if _, err := rev.compareOn(context.Background(), v); err != nil {
			t.Fatal(err)
		}
	})
}
