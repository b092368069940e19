package index

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/govgate/govgate/audit"
)

// Row is one record as the index holds it: the decided fields the reports and queries
// need, derived from the record's canonical bytes, which it keeps, with its leaf hash.
type Row struct {
	Origin         string
	Index          uint64
	Time           time.Time
	Day            time.Time // the day in Beijing time, at 00:00 UTC (a SQL date)
	Kind           string
	Sharing        bool
	Gateway        string
	RequestID      string
	ConsumerDept   string
	ConsumerSystem string
	ProviderDept   string
	Pool           string
	Route          string
	Resource       string
	Agreement      string
	Purpose        string
	Mode           string
	Method         string
	Allow          *bool
	Reasons        []string
	Error          string
	Status         int32
	Outcome        string
	Reason         string
	BytesRequest   int64
	BytesResponse  int64
	Fields         []string
	PolicyRevision string
	Leaf           []byte
	Record         []byte
	// tuple is the row in the binary COPY format (Encode), nil until encoded.
	tuple []byte
}

// columns are the records table's columns, in the order of Row.values.
var columns = []string{"origin", "idx", "t", "day", "kind", "sharing", "gateway", "request_id",
	"consumer_dept", "consumer_system", "provider_dept", "pool", "route", "resource", "agreement",
	"purpose", "mode", "method", "allow", "reasons", "error", "status", "outcome", "reason",
	"bytes_request", "bytes_response", "fields", "policy_revision", "leaf_hash", "record"}

// NewRow derives the row of record index of origin from its bytes, as parsed by
// audit.CheckRecord. providerDept names the department providing a resource (nil: ”).
func NewRow(origin string, index uint64, rec, leaf []byte, r *audit.Record, providerDept func(string) string) Row {
	day, _ := time.Parse(time.DateOnly, audit.ReportValue(r, audit.ByDay, nil))
	row := Row{
		Origin: origin, Index: index, Time: r.Time.UTC().Truncate(time.Microsecond), // PostgreSQL keeps microseconds
		Day: day, Kind: string(r.Kind), Sharing: r.Kind.Sharing(),
		Gateway: r.Gateway, RequestID: r.RequestID, ConsumerDept: r.Consumer.Dept, ConsumerSystem: r.Consumer.System,
		ProviderDept: audit.ReportValue(r, audit.ByProvider, providerDept), Pool: r.Provider, Route: r.Route,
		Resource: r.Resource, Agreement: r.Agreement, Purpose: r.Purpose, Mode: r.Mode, Method: r.Method,
		Reasons: []string{}, Error: r.Error, Status: int32(r.Status), Outcome: audit.Outcome(r),
		Reason: audit.ReportValue(r, audit.ByReason, nil), BytesRequest: r.Bytes.Request, BytesResponse: r.Bytes.Response,
		Fields: r.Fields, Leaf: leaf, Record: rec,
	}
	if r.Decision != nil {
		allow := r.Decision.Allow
		row.Allow = &allow
		row.Reasons = r.Decision.Reasons
		row.PolicyRevision = r.Decision.Revision
	}
	if row.Reasons == nil {
		row.Reasons = []string{}
	}
	if row.Fields == nil {
		row.Fields = []string{}
	}
	for _, p := range []*string{&row.Kind, &row.Gateway, &row.RequestID, &row.ConsumerDept, &row.ConsumerSystem,
		&row.ProviderDept, &row.Pool, &row.Route, &row.Resource, &row.Agreement, &row.Purpose, &row.Mode,
		&row.Method, &row.Error, &row.Outcome, &row.Reason, &row.PolicyRevision} {
		*p = textColumn(*p)
	}
	row.Reasons, row.Fields = textColumns(row.Reasons), textColumns(row.Fields)
	return row
}

// textColumn is s as a text column can hold it: PostgreSQL's text refuses the NUL
// character, which a record may carry (escaped, \u0000), and one such record would stop
// its origin's shipping for good. NUL becomes U+FFFD in the columns; the record column
// keeps the bytes as signed, and Verify derives the columns the same way.
func textColumn(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// textColumns is ss as a text[] column can hold it: a copy when an element has a NUL (the
// record's own slice is not the row's to change).
func textColumns(ss []string) []string {
	if !slices.ContainsFunc(ss, func(s string) bool { return strings.IndexByte(s, 0) >= 0 }) {
		return ss
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = textColumn(s)
	}
	return out
}

func (r *Row) values() []any {
	return []any{r.Origin, int64(r.Index), r.Time, r.Day, r.Kind, r.Sharing, r.Gateway, r.RequestID,
		r.ConsumerDept, r.ConsumerSystem, r.ProviderDept, r.Pool, r.Route, r.Resource, r.Agreement,
		r.Purpose, r.Mode, r.Method, r.Allow, r.Reasons, r.Error, r.Status, r.Outcome, r.Reason,
		r.BytesRequest, r.BytesResponse, r.Fields, r.PolicyRevision, r.Leaf, r.Record}
}

func (r *Row) targets(idx *int64) []any {
	return []any{&r.Origin, idx, &r.Time, &r.Day, &r.Kind, &r.Sharing, &r.Gateway, &r.RequestID,
		&r.ConsumerDept, &r.ConsumerSystem, &r.ProviderDept, &r.Pool, &r.Route, &r.Resource, &r.Agreement,
		&r.Purpose, &r.Mode, &r.Method, &r.Allow, &r.Reasons, &r.Error, &r.Status, &r.Outcome, &r.Reason,
		&r.BytesRequest, &r.BytesResponse, &r.Fields, &r.PolicyRevision, &r.Leaf, &r.Record}
}

// differs names the first column in which the stored row is not what its record says.
// The provider department is left out: it comes from the catalog given to the shipper.
func differs(stored, want *Row) string {
	a, b := stored.values(), want.values()
	for i, c := range columns {
		if c == "provider_dept" || c == "idx" {
			continue
		}
		if !sameValue(a[i], b[i]) {
			return c
		}
	}
	return ""
}

func sameValue(a, b any) bool {
	switch x := a.(type) {
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case *bool:
		y := b.(*bool)
		return (x == nil) == (y == nil) && (x == nil || *x == *y)
	case []string:
		return slices.Equal(x, b.([]string))
	case []byte:
		return bytes.Equal(x, b.([]byte))
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}
