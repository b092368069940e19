package audit

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// ReportRow is the sharing of one consumer department with one provider's resource under
// one agreement, over a period: what supervision counts.
type ReportRow struct {
	Consumer, Provider, Resource, Agreement string
	Allowed, Denied, Failed                 int
	BytesReleased                           int64 // response bytes of the allowed exchanges
}

// Report counts the data-sharing records of the log in dir with a time in [from, to),
// selected by kind (Kind.Sharing): data exchanges, catalog reads and requests refused
// before routing, never admin actions — whatever a route is named. A record that cannot
// be read stops the report: a count over a log that does not verify would mislead.
func Report(dir string, from, to time.Time) ([]ReportRow, error) {
	type key struct{ consumer, provider, resource, agreement string }
	rows := map[key]*ReportRow{}
	err := Scan(dir, func(i uint64, b []byte) error {
		r, err := ParseRecord(b)
		if err != nil {
			return fmt.Errorf("record %d: %w (run govgate audit verify)", i, err)
		}
		if !r.Kind.Sharing() || r.Time.Before(from) || !r.Time.Before(to) {
			return nil
		}
		k := key{r.Consumer.Dept, r.Provider, r.Resource, r.Agreement}
		row := rows[k]
		if row == nil {
			row = &ReportRow{Consumer: k.consumer, Provider: k.provider, Resource: k.resource, Agreement: k.agreement}
			rows[k] = row
		}
		switch {
		case r.Error == "" && r.Status < 400:
			row.Allowed++
			row.BytesReleased += r.Bytes.Response
		case r.Decision != nil && !r.Decision.Allow, r.Error == "denied" || r.Error == "release_denied":
			row.Denied++
		default:
			row.Failed++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", dir, err)
	}
	out := make([]ReportRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b ReportRow) int {
		return cmp.Or(cmp.Compare(a.Consumer, b.Consumer), cmp.Compare(a.Provider, b.Provider),
			cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Agreement, b.Agreement))
	})
	return out, nil
}
