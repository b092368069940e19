package ship

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/audit/index"
)

// The reports' partial days are read by time through the BRIN index (migration 0004),
// which holds only the min and max time of a block range: two gateways' records written
// into one month's partition interleaved in time and out of order (the second gateway's
// rows older than the first's, each log's records appended by 32 writers), before and
// after the ranges are summarized, with sequential and B-tree scans off so that it is what
// is read, still give the reports the files give.
func TestReportsOverBRINEqualFileReports(t *testing.T) {
	ctx := context.Background()
	url, db := newIndex(t)
	a, b := twoGateways(t)
	for _, g := range []*gateway{b, a} {
		if _, err := shipOnce(t, url, g, 700); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(ctx, `SET enable_seqscan = off; SET enable_indexscan = off; SET enable_indexonlyscan = off`); err != nil {
		t.Fatal(err)
	}
	cst := time.FixedZone("CST", 8*3600)
	windows := [][2]time.Time{
		{time.Date(2026, 10, 31, 21, 13, 7, 0, cst), time.Date(2026, 11, 1, 2, 30, 0, 0, cst)},
		{time.Date(2026, 10, 31, 19, 0, 0, 123000, cst), time.Date(2026, 11, 1, 23, 59, 59, 0, cst)},
		{time.Date(2026, 11, 1, 7, 59, 59, 999999000, time.UTC), time.Date(2026, 11, 1, 8, 0, 0, 1000, time.UTC)},
	}
	var plan strings.Builder
	rows, err := db.Query(ctx, `EXPLAIN SELECT count(*) FROM records WHERE t >= $1 AND t < $2`, windows[0][0], windows[0][1])
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if !strings.Contains(plan.String(), "_t_idx") {
		t.Fatalf("a read by time does not use the BRIN index:\n%s", plan.String())
	}
	for _, summarized := range []bool{false, true} {
		if summarized {
			if _, err := db.Exec(ctx, `SELECT brin_summarize_new_values(c.oid) FROM pg_class c WHERE c.relname LIKE 'records_%_t_idx'`); err != nil {
				t.Fatal(err)
			}
		}
		for _, w := range windows {
			for _, by := range [][]audit.ReportDim{{audit.ByDay}, audit.DefaultReportBy(), {audit.ByReason, audit.ByConsumer}} {
				opts := audit.ReportOptions{From: w[0], To: w[1], By: by}
				want := fileReport(t, opts, a, b)
				got, err := index.Report(ctx, db, opts, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) || len(want) == 0 && w != windows[2] {
					t.Fatalf("summarized %v, report by %v over %v:\n db   %+v\n file %+v", summarized, by, w, got, want)
				}
			}
		}
	}
}
