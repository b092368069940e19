package audit

import (
	"context"
	"testing"
	"time"
)

// TestReportSelectsByKind: the sharing report counts the data requests of a real route
// named "admin" (pool "hr") and refusals before routing, and no admin action — not even
// one made by a department's certificate, which would otherwise show as that
// department's sharing.
func TestReportSelectsByKind(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testSigner(t, testOrigin), Options{})
	ex := func(i int, route string, status int) *Record {
		r := testRecord(i)
		r.Route, r.Provider, r.Resource, r.Agreement, r.Status = route, "hr", "hr.staff", "AGR-9", status
		if status >= 400 {
			r.Error, r.Decision = "denied", &Decision{Allow: false, Reasons: []string{"AGREEMENT_EXPIRED"}}
		}
		return r
	}
	adm := adminRecord()
	adm.Consumer = Consumer{Dept: "110000-rensheju", System: "ops", CertSerial: "0a"}
	refused := &Record{Kind: KindRefusal, Time: testRecord(9).Time, Consumer: Consumer{Dept: "110000-rensheju"}, Method: "GET", Path: "/x", Error: "not_found", Status: 404, Fields: []string{}}
	for _, r := range []*Record{ex(1, "admin", 200), ex(2, "admin", 200), ex(3, "admin", 403), adm, adm, refused} {
		if _, err := l.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	rows, err := Report(dir, time.Time{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := []ReportRow{
		{Consumer: "110000-rensheju", Failed: 1},
		{Consumer: "110000-rensheju", Provider: "hr", Resource: "hr.staff", Agreement: "AGR-9", Allowed: 2, Denied: 1, BytesReleased: 3},
	}
	if len(rows) != len(want) || rows[0] != want[0] || rows[1] != want[1] {
		t.Errorf("report:\n%+v\nwant\n%+v", rows, want)
	}
}

// TestReportOverVersion1Log: in a log written before kinds, the admin actions (route
// "admin" of pool "admin") are left out and the data route named "admin" on pool "hr" is
// counted.
func TestReportOverVersion1Log(t *testing.T) {
	rows, err := Report(copyFixture(t, "v1log"), time.Time{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var sawAdminRoute bool
	for _, r := range rows {
		if r.Provider == "admin" {
			t.Errorf("an admin action is counted as sharing: %+v", r)
		}
		if r.Provider == "hr" && r.Allowed == 1 {
			sawAdminRoute = true
		}
	}
	if !sawAdminRoute || len(rows) != 4 {
		t.Errorf("report: %+v", rows)
	}
}
