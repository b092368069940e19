package ship

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/audit/index"
	"github.com/jackc/pgx/v5"
)

func mergedKeys(t testing.TB, gws ...*gateway) *audit.KeySet {
	ks := &audit.KeySet{}
	for _, g := range gws {
		ks.Keys = append(ks.Keys, g.keys(t).Keys...)
	}
	return ks
}

// A month past retention is dropped only once every origin's export of it verifies: a row
// changed in the index makes the export fail and the month stays; once honest, the month
// is dropped, its exports verify on their own, the index still verifies from its new
// start, and the reports still count the dropped month from the roll-up.
func TestRetentionDropsOnlyAfterVerifiedExport(t *testing.T) {
	ctx := context.Background()
	url, db := newIndex(t)
	a, b := twoGateways(t)
	for _, g := range []*gateway{a, b} {
		if _, err := shipOnce(t, url, g, 1000); err != nil {
			t.Fatal(err)
		}
	}
	keys := mergedKeys(t, a, b)
	exports := t.TempDir()
	// October's records are older than 180 days, November's not yet.
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(index.DefaultRetention + time.Hour)
	opts := index.RetainOptions{GatewayRetention: 180 * 24 * time.Hour, ExportDir: exports, Keys: keys, Now: now}

	if _, err := index.Retain(ctx, db, index.RetainOptions{Retention: 30 * 24 * time.Hour, GatewayRetention: opts.GatewayRetention, ExportDir: exports, Keys: keys, Now: now}); err == nil {
		t.Fatal("a retention shorter than the gateway's was accepted")
	}
	reportBefore, err := index.Report(ctx, db, audit.ReportOptions{To: now, By: []audit.ReportDim{audit.ByDay}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The roll-ups as counted from the records themselves, before any is dropped.
	fromRecords := map[string][]string{}
	for _, period := range []string{"day", "month"} {
		fromRecords[period] = rollupRows(t, db, `SELECT `+period+`::text, origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome,
			count(*), coalesce(sum(bytes_response) FILTER (WHERE outcome = 'allowed'), 0)::bigint
			FROM (SELECT *, date_trunc('month', day)::date AS month FROM records WHERE sharing) AS r GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10`)
	}

	// A row of October changed in the index: its export does not verify, nothing is dropped.
	if _, err := db.Exec(ctx, `UPDATE records SET record = convert_to(replace(convert_from(record, 'UTF8'), '127.0.0.1', '127.0.0.9'), 'UTF8')
		WHERE origin = $1 AND idx = 5`, b.origin); err != nil {
		t.Fatal(err)
	}
	dropped, err := index.Retain(ctx, db, index.RetainOptions{GatewayRetention: opts.GatewayRetention, ExportDir: filepath.Join(exports, "first"), Keys: keys, Now: now})
	if err == nil || !strings.Contains(err.Error(), "does not verify") || len(dropped) != 0 {
		t.Fatalf("retention over a changed row: %v, %v", dropped, err)
	}
	if n := count(t, db, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'records'::regclass`); n != 2 {
		t.Fatalf("%d partitions after a failed export, want both kept", n)
	}
	if _, err := db.Exec(ctx, `UPDATE records SET record = convert_to(replace(convert_from(record, 'UTF8'), '127.0.0.9', '127.0.0.1'), 'UTF8')
		WHERE origin = $1 AND idx = 5`, b.origin); err != nil {
		t.Fatal(err)
	}

	dropped, err = index.Retain(ctx, db, opts)
	if err != nil || len(dropped) != 1 || dropped[0].Partition != "records_202610" || len(dropped[0].Exports) != 2 {
		t.Fatalf("retention: %+v, %v", dropped, err)
	}
	for origin, dir := range dropped[0].Exports {
		rep, err := audit.Verify(dir, keys)
		if err != nil || rep.Records == 0 {
			t.Fatalf("the export of %s: %+v, %v", origin, rep, err)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM records WHERE t < '2026-11-01T00:00:00Z'`); n != 0 {
		t.Fatalf("%d October rows left", n)
	}
	for _, g := range []*gateway{a, b} {
		rep, err := index.Verify(ctx, db, g.origin, g.keys(t))
		if err != nil || rep.First == 0 || rep.First+rep.Records != g.size {
			t.Fatalf("verify --db %s after retention: %+v, %v", g.origin, rep, err)
		}
	}
	// The roll-ups still hold what the records counted: retention dropped records, not counts.
	for _, table := range []struct{ period, name string }{{"day", "sharing_daily"}, {"month", "sharing_monthly"}} {
		got := rollupRows(t, db, `SELECT `+table.period+`::text, origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome, n, bytes_released
			FROM `+table.name+` ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10`)
		if want := fromRecords[table.period]; !slices.Equal(got, want) || len(want) < 10 {
			t.Fatalf("%s after retention (%d rows) is not the count of the records before (%d rows):\n got  %v\n want %v", table.name, len(got), len(want), got, want)
		}
	}
	reportAfter, err := index.Report(ctx, db, audit.ReportOptions{To: now, By: []audit.ReportDim{audit.ByDay}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(reportAfter) != len(reportBefore) || reportAfter[0] != reportBefore[0] {
		t.Fatalf("the report by day changed when the records were dropped:\n before %+v\n after  %+v", reportBefore, reportAfter)
	}
	// Shipping goes on after retention: nothing new, no alert.
	if res, err := shipOnce(t, url, a, 1000); err != nil || res.Records != 0 {
		t.Fatalf("shipping after retention: %+v, %v", res, err)
	}
}

// rollupRows are the rows of a roll-up query, each its columns joined, in order.
func rollupRows(t testing.TB, db *pgx.Conn, sql string) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%v", vals))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
