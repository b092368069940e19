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
	rows, err := Report(dir, ReportOptions{To: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	want := []ReportRow{
		{Consumer: "110000-rensheju", Kind: "refusal", Failed: 1},
		{Consumer: "110000-rensheju", Pool: "hr", Resource: "hr.staff", Agreement: "AGR-9", Kind: "exchange", Allowed: 2, Denied: 1, BytesReleased: 3},
	}
	if len(rows) != len(want) || rows[0] != want[0] || rows[1] != want[1] {
		t.Errorf("report:\n%+v\nwant\n%+v", rows, want)
	}
}

// TestReportOverVersion1Log: in a log written before kinds, the admin actions (route
// "admin" of pool "admin") are left out and the data route named "admin" on pool "hr" is
// counted.
func TestReportOverVersion1Log(t *testing.T) {
	rows, err := Report(copyFixture(t, "v1log"), ReportOptions{To: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var sawAdminRoute bool
	for _, r := range rows {
		if r.Pool == "admin" {
			t.Errorf("an admin action is counted as sharing: %+v", r)
		}
		if r.Pool == "hr" && r.Allowed == 1 {
			sawAdminRoute = true
		}
	}
	if !sawAdminRoute || len(rows) != 4 {
		t.Errorf("report: %+v", rows)
	}
}

// reportLog writes a log of the sharing a supervisor asks about: two days in Beijing time
// (one record at 23:30 UTC, already the next day in Beijing), two agreements, denials for
// two reasons, a provider failure, catalog reads and 404s without a route, and an admin
// action that must not count.
func reportLog(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l := openTestLog(t, dir, testSigner(t, testOrigin), Options{})
	day1 := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)   // 2026-11-29 10:00 in Beijing
	day2 := time.Date(2026, 11, 29, 23, 30, 0, 0, time.UTC) // 2026-11-30 07:30 in Beijing
	ex := func(at time.Time, agreement string, status int, reasons ...string) *Record {
		r := testRecord(0)
		r.Time, r.Agreement, r.Status, r.Bytes.Response = at, agreement, status, 100
		if len(reasons) > 0 {
			r.Error, r.Decision = "denied", &Decision{Allow: false, Reasons: reasons, Revision: "r"}
		}
		return r
	}
	failed := ex(day2, "AGR-1", 502)
	failed.Error = "upstream_unavailable"
	catalog := &Record{Kind: KindCatalog, Time: day1, Consumer: Consumer{Dept: "110000-rensheju"}, Method: "GET", Path: "/.well-known/govgate/catalog", Status: 200, Fields: []string{}}
	notFound := &Record{Kind: KindRefusal, Time: day1, Consumer: Consumer{Dept: "110000-rensheju"}, Method: "GET", Path: "/nothing", Error: "no_route", Status: 404, Fields: []string{}}
	adm := adminRecord()
	adm.Time = day1
	for _, r := range []*Record{
		ex(day1, "AGR-1", 200), ex(day1, "AGR-1", 200), ex(day1, "AGR-2", 200),
		ex(day1, "AGR-1", 403, "AGREEMENT_EXPIRED"), ex(day2, "AGR-1", 403, "PURPOSE_NOT_ALLOWED", "QUOTA_EXCEEDED"),
		ex(day2, "AGR-2", 200), failed, catalog, catalog, notFound, adm,
	} {
		if _, err := l.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	return dir
}

// TestReportBreakdowns: the providing department comes from the catalog, not the pool;
// catalog reads and 404s are rows of their own; by day (Beijing time), agreement and
// reason the counts are exact, and every grouping sums to the same totals.
func TestReportBreakdowns(t *testing.T) {
	dir := reportLog(t)
	owners := func(res string) string { return map[string]string{"tax.registration": "110000-shuiwu"}[res] }
	rows, err := Report(dir, ReportOptions{To: time.Now(), ProviderDept: owners})
	if err != nil {
		t.Fatal(err)
	}
	want := []ReportRow{
		{Consumer: "110000-rensheju", Kind: "catalog", Allowed: 2},
		{Consumer: "110000-rensheju", Kind: "refusal", Failed: 1},
		{Consumer: "110000-rensheju", Provider: "110000-shuiwu", Pool: "tax", Resource: "tax.registration", Agreement: "AGR-1", Kind: "exchange", Allowed: 2, Denied: 2, Failed: 1, BytesReleased: 200},
		{Consumer: "110000-rensheju", Provider: "110000-shuiwu", Pool: "tax", Resource: "tax.registration", Agreement: "AGR-2", Kind: "exchange", Allowed: 2, BytesReleased: 200},
	}
	assertRows(t, "default", rows, want)

	rows, err = Report(dir, ReportOptions{To: time.Now(), By: []ReportDim{ByDay}})
	if err != nil {
		t.Fatal(err)
	}
	assertRows(t, "by day", rows, []ReportRow{
		{Day: "2026-11-29", Allowed: 5, Denied: 1, Failed: 1, BytesReleased: 300},
		{Day: "2026-11-30", Allowed: 1, Denied: 1, Failed: 1, BytesReleased: 100},
	})

	rows, err = Report(dir, ReportOptions{To: time.Now(), By: []ReportDim{ByReason, ByKind}})
	if err != nil {
		t.Fatal(err)
	}
	assertRows(t, "by reason", rows, []ReportRow{
		{Kind: "catalog", Allowed: 2},
		{Kind: "exchange", Allowed: 4, BytesReleased: 400},
		{Reason: "AGREEMENT_EXPIRED", Kind: "exchange", Denied: 1},
		{Reason: "PURPOSE_NOT_ALLOWED+QUOTA_EXCEEDED", Kind: "exchange", Denied: 1},
		{Reason: "no_route", Kind: "refusal", Failed: 1},
		{Reason: "upstream_unavailable", Kind: "exchange", Failed: 1},
	})

	rows, err = Report(dir, ReportOptions{To: time.Now(), By: []ReportDim{ByAgreement, ByDay}})
	if err != nil {
		t.Fatal(err)
	}
	assertRows(t, "by agreement, day", rows, []ReportRow{
		{Day: "2026-11-29", Allowed: 2, Failed: 1},
		{Agreement: "AGR-1", Day: "2026-11-29", Allowed: 2, Denied: 1, BytesReleased: 200},
		{Agreement: "AGR-1", Day: "2026-11-30", Denied: 1, Failed: 1},
		{Agreement: "AGR-2", Day: "2026-11-29", Allowed: 1, BytesReleased: 100},
		{Agreement: "AGR-2", Day: "2026-11-30", Allowed: 1, BytesReleased: 100},
	})

	// The period is in Beijing days too: from 2026-11-30 00:00 +08:00 takes the 23:30 UTC records.
	from := time.Date(2026, 11, 30, 0, 0, 0, 0, beijing)
	rows, err = Report(dir, ReportOptions{From: from, To: time.Now(), By: []ReportDim{ByDay}})
	if err != nil {
		t.Fatal(err)
	}
	assertRows(t, "from a Beijing day", rows, []ReportRow{{Day: "2026-11-30", Allowed: 1, Denied: 1, Failed: 1, BytesReleased: 100}})
}

func assertRows(t *testing.T, what string, got, want []ReportRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d rows, want %d:\n%+v", what, len(got), len(want), got)
		return
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s row %d:\n got %+v\nwant %+v", what, i, got[i], want[i])
		}
	}
}

// TestParseReportBy refuses what a careless auditor might type.
func TestParseReportBy(t *testing.T) {
	by, err := ParseReportBy("day, agreement,reason")
	if err != nil || len(by) != 3 || by[0] != ByDay || by[1] != ByAgreement || by[2] != ByReason {
		t.Errorf("ParseReportBy: %v %v", by, err)
	}
	for _, bad := range []string{"", "date", "day,day", "day,", "Day"} {
		if _, err := ParseReportBy(bad); err == nil {
			t.Errorf("ParseReportBy(%q) accepted", bad)
		}
	}
}
