package index

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/jackc/pgx/v5"
)

// beijing is the zone of a report's days, as in audit.Report.
var beijing = time.FixedZone("CST", 8*3600)

// dimColumn is the SQL of report column d over records, sharing_daily and sharing_monthly
// alike; period is the table's date column (day or month).
func dimColumn(d audit.ReportDim, period string) string {
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
		return "to_char(" + period + ", 'YYYY-MM-DD')"
	case audit.ByMonth:
		return "to_char(" + period + ", 'YYYY-MM')"
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
	q, args := reportQuery(by, opts.ProviderDept != nil, opts.From, opts.To, origins)
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

// reportQuery builds the query: whole Beijing months of [from, to) from sharing_monthly
// (unless the report is by day), the other whole days from sharing_daily, the rest from
// records. byResource: the provider column is the resource, mapped to departments after.
func reportQuery(by []audit.ReportDim, byResource bool, from, to time.Time, origins []string) (string, []any) {
	cols := func(period string) string {
		out := make([]string, len(by))
		for i, d := range by {
			c := dimColumn(d, period)
			if d == audit.ByProvider && byResource {
				c = "resource"
			}
			out[i] = fmt.Sprintf("%s AS c%d", c, i+1)
		}
		return strings.Join(out, ", ")
	}
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
			CASE WHEN outcome = 'allowed' THEN bytes_response ELSE 0 END AS b FROM records WHERE %s%s`, cols("day"), cond, originFilter))
	}
	// rolled reads the periods [lo, hi) (lo zero: no lower bound) of a roll-up.
	rolled := func(table, period string, lo, hi time.Time) {
		cond := period + " < " + arg(hi.Format(time.DateOnly)) + "::date"
		if !lo.IsZero() {
			cond += " AND " + period + " >= " + arg(lo.Format(time.DateOnly)) + "::date"
		}
		parts = append(parts, fmt.Sprintf(`SELECT %s, outcome, n, bytes_released AS b FROM %s WHERE %s%s`, cols(period), table, cond, originFilter))
	}
	dayFrom, dayTo := ceilDay(from), floorDay(to)
	if !dayFrom.Before(dayTo) {
		edge(from, to)
		return groupQuery(len(by), parts), args
	}
	monthFrom, monthTo := ceilMonth(dayFrom), floorMonth(dayTo)
	if slices.Contains(by, audit.ByDay) || !monthFrom.Before(monthTo) {
		rolled("sharing_daily", "day", dayFrom, dayTo)
	} else {
		if !dayFrom.IsZero() && dayFrom.Before(monthFrom) {
			rolled("sharing_daily", "day", dayFrom, monthFrom)
		}
		rolled("sharing_monthly", "month", monthFrom, monthTo)
		if monthTo.Before(dayTo) {
			rolled("sharing_daily", "day", monthTo, dayTo)
		}
	}
	if !from.IsZero() && from.Before(dayFrom) {
		edge(from, dayFrom)
	}
	if dayTo.Before(to) {
		edge(dayTo, to)
	}
	return groupQuery(len(by), parts), args
}

// groupQuery sums the union of parts by their first n columns. Columns are numbered so
// that the same expression in every part groups as one.
func groupQuery(n int, parts []string) string {
	groupBy := make([]string, n)
	for i := range groupBy {
		groupBy[i] = fmt.Sprint(i + 1)
	}
	return fmt.Sprintf(`SELECT %s,
		coalesce(sum(n) FILTER (WHERE outcome = 'allowed'), 0)::bigint,
		coalesce(sum(n) FILTER (WHERE outcome = 'denied'), 0)::bigint,
		coalesce(sum(n) FILTER (WHERE outcome = 'failed'), 0)::bigint,
		coalesce(sum(b), 0)::bigint
	FROM (%s) AS u GROUP BY %s`, renumbered(n), strings.Join(parts, " UNION ALL "), strings.Join(groupBy, ", "))
}

// renumbered selects the union's columns by position: the first len(by) are the groups.
func renumbered(n int) string {
	out := make([]string, n)
	for i := range out {
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

// ceilMonth is the first Beijing first-of-month at or after the Beijing midnight d (zero
// stays zero: no lower bound).
func ceilMonth(d time.Time) time.Time {
	if d.IsZero() {
		return d
	}
	m := floorMonth(d)
	if m.Before(d) {
		m = m.AddDate(0, 1, 0)
	}
	return m
}

// floorMonth is the last Beijing first-of-month at or before t.
func floorMonth(t time.Time) time.Time {
	b := t.In(beijing)
	return time.Date(b.Year(), b.Month(), 1, 0, 0, 0, 0, beijing)
}
