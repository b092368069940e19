package index

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/jackc/pgx/v5"
)

// beijing is the zone of a report's days, as in audit.Report.
var beijing = time.FixedZone("CST", 8*3600)

// dimColumn is the SQL of report column d over sharing_daily and records alike.
func dimColumn(d audit.ReportDim) string {
	switch d {
	case audit.ByConsumer:
		return "consumer_dept"
	case audit.ByProvider:
		return "provider_dept"
	case audit.ByPool:
		return "pool"
	case audit.ByResource:
		return "resource"
	case audit.ByAgreement:
		return "agreement"
	case audit.ByKind:
		return "kind"
	case audit.ByDay:
		return "to_char(day, 'YYYY-MM-DD')"
	case audit.ByMonth:
		return "to_char(day, 'YYYY-MM')"
	case audit.ByReason:
		return "reason"
	}
	return "''"
}

// Report counts the sharing records of the index as audit.Report counts those of one log,
// over every origin (or those named in origins): the same rows, the same order. Whole days
// of Beijing time are read from the daily roll-up, the partial days at either end of
// [From, To) from the records (by their time index). With opts.ProviderDept, the provider
// column is the department it names for each resource, not the one stored at shipping.
func Report(ctx context.Context, db *pgx.Conn, opts audit.ReportOptions, origins []string) ([]audit.ReportRow, error) {
	by := opts.By
	if len(by) == 0 {
		by = audit.DefaultReportBy()
	}
	sqlBy := make([]string, 0, len(by)+1)
	for _, d := range by {
		if d == audit.ByProvider && opts.ProviderDept != nil {
			sqlBy = append(sqlBy, "resource") // mapped to departments below
			continue
		}
		sqlBy = append(sqlBy, dimColumn(d))
	}
	q, args := reportQuery(sqlBy, opts.From, opts.To, origins)
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("report from the audit index: %w", err)
	}
	groups := map[string]*audit.ReportRow{}
	vals := make([]string, len(by))
	targets := make([]any, 0, len(by)+4)
	for i := range vals {
		targets = append(targets, &vals[i])
	}
	var allowed, denied, failed, bytes int64
	targets = append(targets, &allowed, &denied, &failed, &bytes)
	_, err = pgx.ForEachRow(rows, targets, func() error {
		var row audit.ReportRow
		var key strings.Builder
		for i, d := range by {
			v := vals[i]
			if d == audit.ByProvider && opts.ProviderDept != nil {
				if v != "" {
					v = opts.ProviderDept(v)
				}
			}
			setColumn(&row, d, v)
			key.WriteString(v)
			key.WriteByte(0)
		}
		g := groups[key.String()]
		if g == nil {
			g = &row
			groups[key.String()] = g
		}
		g.Allowed += int(allowed)
		g.Denied += int(denied)
		g.Failed += int(failed)
		g.BytesReleased += bytes
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report from the audit index: %w", err)
	}
	out := make([]audit.ReportRow, 0, len(groups))
	for _, g := range groups {
		out = append(out, *g)
	}
	audit.SortReportRows(out, by)
	return out, nil
}

func setColumn(r *audit.ReportRow, d audit.ReportDim, v string) {
	switch d {
	case audit.ByConsumer:
		r.Consumer = v
	case audit.ByProvider:
		r.Provider = v
	case audit.ByPool:
		r.Pool = v
	case audit.ByResource:
		r.Resource = v
	case audit.ByAgreement:
		r.Agreement = v
	case audit.ByKind:
		r.Kind = v
	case audit.ByDay:
		r.Day = v
	case audit.ByMonth:
		r.Month = v
	case audit.ByReason:
		r.Reason = v
	}
}

// reportQuery builds the query: whole days [dayFrom, dayTo) from sharing_daily, the rest
// of [from, to) from records.
func reportQuery(by []string, from, to time.Time, origins []string) (string, []any) {
	dayFrom, dayTo := ceilDay(from), floorDay(to)
	aliased := make([]string, len(by))
	for i, c := range by {
		aliased[i] = fmt.Sprintf("%s AS c%d", c, i+1)
	}
	cols := strings.Join(aliased, ", ")
	originFilter := ""
	args := []any{}
	if len(origins) > 0 {
		args = append(args, origins)
		originFilter = " AND origin = ANY($1)"
	}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	var parts []string
	edge := func(lo, hi time.Time) {
		cond := "sharing"
		if !lo.IsZero() {
			cond += " AND t >= " + arg(lo)
		}
		cond += " AND t < " + arg(hi)
		parts = append(parts, fmt.Sprintf(`SELECT %s, outcome, 1::bigint AS n,
			CASE WHEN outcome = 'allowed' THEN bytes_response ELSE 0 END AS b FROM records WHERE %s%s`, cols, cond, originFilter))
	}
	if dayFrom.Before(dayTo) {
		cond := "day < " + arg(dayTo.Format(time.DateOnly)) + "::date"
		if !from.IsZero() {
			cond += " AND day >= " + arg(dayFrom.Format(time.DateOnly)) + "::date"
		}
		parts = append(parts, fmt.Sprintf(`SELECT %s, outcome, n, bytes_released AS b FROM sharing_daily WHERE %s%s`, cols, cond, originFilter))
		if !from.IsZero() && from.Before(dayFrom) {
			edge(from, dayFrom)
		}
		if dayTo.Before(to) {
			edge(dayTo, to)
		}
	} else {
		edge(from, to)
	}
	// Columns are numbered so that the same expression in both parts groups as one.
	groupBy := make([]string, len(by))
	for i := range by {
		groupBy[i] = fmt.Sprint(i + 1)
	}
	q := fmt.Sprintf(`SELECT %s,
		coalesce(sum(n) FILTER (WHERE outcome = 'allowed'), 0)::bigint,
		coalesce(sum(n) FILTER (WHERE outcome = 'denied'), 0)::bigint,
		coalesce(sum(n) FILTER (WHERE outcome = 'failed'), 0)::bigint,
		coalesce(sum(b), 0)::bigint
	FROM (%s) AS u GROUP BY %s`, renumbered(by), strings.Join(parts, " UNION ALL "), strings.Join(groupBy, ", "))
	return q, args
}

// renumbered selects the union's columns by position: the first len(by) are the groups.
func renumbered(by []string) string {
	out := make([]string, len(by))
	for i := range by {
		out[i] = fmt.Sprintf("u.c%d", i+1)
	}
	return strings.Join(out, ", ")
}

// ceilDay is the first Beijing midnight at or after t (zero stays zero: no lower bound).
func ceilDay(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	d := floorDay(t)
	if d.Before(t) {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

// floorDay is the last Beijing midnight at or before t.
func floorDay(t time.Time) time.Time {
	b := t.In(beijing)
	return time.Date(b.Year(), b.Month(), b.Day(), 0, 0, 0, 0, beijing)
}
