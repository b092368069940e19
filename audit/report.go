package audit

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ReportDim is a column a sharing report groups by.
type ReportDim string

// The columns a report can group by. A record has one value in each.
const (
	ByConsumer  ReportDim = "consumer"  // the consumer department
	ByProvider  ReportDim = "provider"  // the providing department: the owner of the resource
	ByPool      ReportDim = "pool"      // the provider pool the route forwarded to
	ByResource  ReportDim = "resource"  // the catalog entry
	ByAgreement ReportDim = "agreement" // the sharing agreement the decision chose
	ByKind      ReportDim = "kind"      // exchange, catalog (a catalog read), proof (a receipt check) or refusal
	ByDay       ReportDim = "day"       // the day in Beijing time (UTC+8), YYYY-MM-DD
	ByMonth     ReportDim = "month"     // the month in Beijing time (UTC+8), YYYY-MM
	ByReason    ReportDim = "reason"    // why not allowed: the decision's reasons, or the error code
)

// ReportDims returns every column a report can group by.
func ReportDims() []ReportDim {
	return []ReportDim{ByConsumer, ByProvider, ByPool, ByResource, ByAgreement, ByKind, ByDay, ByMonth, ByReason}
}

// DefaultReportBy returns the grouping of a report that names none: one row per consumer,
// providing department, pool, resource, agreement and kind — catalog reads and refusals
// (a 404 without a route among them) each in rows of their own.
func DefaultReportBy() []ReportDim {
	return []ReportDim{ByConsumer, ByProvider, ByPool, ByResource, ByAgreement, ByKind}
}

// beijing is the time zone of a report's days: supervision counts days as the departments
// live them.
var beijing = time.FixedZone("CST", 8*3600)

// ReportOptions select and group the records of a report.
type ReportOptions struct {
	From, To time.Time   // records with a time in [From, To)
	By       []ReportDim // default DefaultReportBy()
	// ProviderDept names the department that provides a resource (the catalog's owner);
	// the record names the pool, not the department. Nil, or "" for a resource, leaves the
	// provider column empty.
	ProviderDept func(resource string) string
}

// ReportRow is one group of a sharing report. Only the columns grouped by are set; the
// JSON names are the `audit report --json` contract (docs/architecture.md).
type ReportRow struct {
	Consumer      string `json:"consumer"`
	Provider      string `json:"provider"`
	Pool          string `json:"pool"`
	Resource      string `json:"resource"`
	Agreement     string `json:"agreement"`
	Kind          string `json:"kind"`
	Day           string `json:"day"`
	Month         string `json:"month"`
	Reason        string `json:"reason"`
	Allowed       int    `json:"allowed"`
	Denied        int    `json:"denied"`
	Failed        int    `json:"failed"`
	BytesReleased int64  `json:"bytes_released"` // response bytes of the allowed exchanges
}

// Get returns the row's value in column d.
func (r *ReportRow) Get(d ReportDim) string {
	if p := r.column(d); p != nil {
		return *p
	}
	return ""
}

// column is the member of the row that holds column d: one switch for reading and setting.
func (r *ReportRow) column(d ReportDim) *string {
	switch d {
	case ByConsumer:
		return &r.Consumer
	case ByProvider:
		return &r.Provider
	case ByPool:
		return &r.Pool
	case ByResource:
		return &r.Resource
	case ByAgreement:
		return &r.Agreement
	case ByKind:
		return &r.Kind
	case ByDay:
		return &r.Day
	case ByMonth:
		return &r.Month
	case ByReason:
		return &r.Reason
	}
	return nil
}

// ParseReportBy reads a comma-separated list of columns, refusing unknown and repeated ones.
func ParseReportBy(s string) ([]ReportDim, error) {
	var by []ReportDim
	for _, name := range strings.Split(s, ",") {
		d := ReportDim(strings.TrimSpace(name))
		if !slices.Contains(ReportDims(), d) {
			return nil, fmt.Errorf("unknown report column %q (want some of %s)", d, FormatReportBy(ReportDims()))
		}
		if slices.Contains(by, d) {
			return nil, fmt.Errorf("report column %q named twice", d)
		}
		by = append(by, d)
	}
	return by, nil
}

// FormatReportBy writes columns as ParseReportBy reads them.
func FormatReportBy(ds []ReportDim) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = string(d)
	}
	return strings.Join(s, ",")
}

// Report counts the data-sharing records of the log in dir, selected by kind
// (Kind.Sharing): data exchanges, catalog reads and requests refused before routing, never
// admin actions — whatever a route is named. Rows are sorted by the columns of opts.By,
// in that order. A record that cannot be read stops the report: a count over a log that
// does not verify would mislead.
func Report(dir string, opts ReportOptions) ([]ReportRow, error) {
	by := opts.By
	if len(by) == 0 {
		by = DefaultReportBy()
	}
	rows := map[string]*ReportRow{}
	err := Scan(dir, func(i uint64, b []byte) error {
		r, err := ParseRecord(b)
		if err != nil {
			return fmt.Errorf("record %d: %w (run govgate audit verify)", i, err)
		}
		if !r.Kind.Sharing() || r.Time.Before(opts.From) || !r.Time.Before(opts.To) {
			return nil
		}
		var row ReportRow
		for _, d := range by {
			*row.column(d) = recordValue(r, d, opts.ProviderDept)
		}
		key := groupKey(&row, by)
		sum := rows[key]
		if sum == nil {
			sum = &row
			rows[key] = sum
		}
		count(sum, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", dir, err)
	}
	out := make([]ReportRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	SortReportRows(out, by)
	return out, nil
}

// SortReportRows sorts rows by the columns of by, in that order, comparing bytes: the
// order of every report, whatever computed it (the audit index's SQL too).
func SortReportRows(rows []ReportRow, by []ReportDim) {
	slices.SortFunc(rows, func(a, b ReportRow) int {
		for _, d := range by {
			if c := cmp.Compare(a.Get(d), b.Get(d)); c != 0 {
				return c
			}
		}
		return 0
	})
}

// Outcome is how a report counts a record: "allowed", "denied" or "failed".
func Outcome(r *Record) string {
	switch outcomeOf(r) {
	case allowed:
		return "allowed"
	case denied:
		return "denied"
	}
	return "failed"
}

// ReportValue is the record's value in report column d, as Report groups it.
func ReportValue(r *Record, d ReportDim, providerDept func(resource string) string) string {
	return recordValue(r, d, providerDept)
}

func groupKey(r *ReportRow, by []ReportDim) string {
	var b strings.Builder
	for _, d := range by {
		b.WriteString(r.Get(d))
		b.WriteByte(0) // no member holds a NUL: canonical JSON escapes it
	}
	return b.String()
}

// outcome is how a report counts a record.
type outcome int

const (
	allowed outcome = iota
	denied
	failed
)

func outcomeOf(r *Record) outcome {
	switch {
	case r.Error == "" && r.Status < 400:
		return allowed
	case r.Decision != nil && !r.Decision.Allow, r.Error == "denied" || r.Error == "release_denied":
		return denied
	}
	return failed
}

func count(row *ReportRow, r *Record) {
	switch outcomeOf(r) {
	case allowed:
		row.Allowed++
		row.BytesReleased += r.Bytes.Response
	case denied:
		row.Denied++
	default:
		row.Failed++
	}
}

func recordValue(r *Record, d ReportDim, providerDept func(string) string) string {
	switch d {
	case ByConsumer:
		return r.Consumer.Dept
	case ByProvider:
		if providerDept == nil || r.Resource == "" {
			return ""
		}
		return providerDept(r.Resource)
	case ByPool:
		return r.Provider // the record's provider member names the pool
	case ByResource:
		return r.Resource
	case ByAgreement:
		return r.Agreement
	case ByKind:
		return string(r.Kind)
	case ByDay:
		return r.Time.In(beijing).Format(time.DateOnly)
	case ByMonth:
		return r.Time.In(beijing).Format("2006-01")
	case ByReason:
		return reasonOf(r)
	}
	return ""
}

// reasonOf is the reason code of a record not allowed: the decision's reasons when the
// policy denied it (joined by "+" when several), else the error code, else the HTTP status
// a provider answered with; "" when allowed.
func reasonOf(r *Record) string {
	if outcomeOf(r) == allowed {
		return ""
	}
	if r.Decision != nil && !r.Decision.Allow && len(r.Decision.Reasons) > 0 {
		return strings.Join(r.Decision.Reasons, "+")
	}
	if r.Error != "" {
		return r.Error
	}
	return fmt.Sprintf("http_%d", r.Status)
}
