package index

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The roll-ups are what the reports read, so a count changed there changes a report
// while every record still verifies: Verify recounts them from the records.

// rollupCheck is one roll-up table and the expression of its period over records.
type rollupCheck struct {
	table, period, fromRecords string
	start                      func(day time.Time) time.Time // the first period wholly held after day
}

var rollupChecks = []rollupCheck{
	{"sharing_daily", "day", "day", func(d time.Time) time.Time { return d.AddDate(0, 0, 1) }},
	{"sharing_monthly", "month", "date_trunc('month', day)::date", func(d time.Time) time.Time {
		return time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0)
	}},
}

// rollupMismatch compares a roll-up's rows of the origin with the sums of its records, on
// the periods the index holds whole: from the first (first_idx 0) or from the period after
// the first row's (retention dropped the records before, not their counts). $2 NULL: all.
const rollupMismatch = `
WITH r AS (
	SELECT %[3]s AS %[2]s, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome,
		count(*) AS n, coalesce(sum(bytes_response) FILTER (WHERE outcome = 'allowed'), 0)::bigint AS b
	FROM records WHERE origin = $1 AND sharing AND ($2::date IS NULL OR %[3]s >= $2::date)
	GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9),
d AS (
	SELECT %[2]s, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome, n, bytes_released AS b
	FROM %[1]s WHERE origin = $1 AND ($2::date IS NULL OR %[2]s >= $2::date))
SELECT to_char(%[2]s, 'YYYY-MM-DD'), kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome,
	coalesce(d.n, 0), coalesce(d.b, 0), coalesce(r.n, 0), coalesce(r.b, 0)
FROM r FULL JOIN d USING (%[2]s, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome)
WHERE r.n IS DISTINCT FROM d.n OR r.b IS DISTINCT FROM d.b
ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9`

// misKeyed counts the origin's roll-up rows whose key is not their texts' (migration 0005):
// the counts may still be right, but the shipper would add the group's next records to a
// row of its own key, and a report or verify see the group twice.
const misKeyed = `SELECT count(*) FROM %s WHERE origin = $1 AND group_key <> rollup_group_key(origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome)`

// orphanRollups are the origins the roll-ups count that the index holds no checkpoint of:
// the reports (over every origin) would count rows no signed log backs.
const orphanRollups = `
SELECT DISTINCT origin FROM (SELECT origin FROM sharing_daily UNION SELECT origin FROM sharing_monthly) AS o
WHERE NOT EXISTS (SELECT 1 FROM checkpoints c WHERE c.origin = o.origin) ORDER BY 1`

func (v *dbVerifier) checkRollups(ctx context.Context, db *pgx.Conn) error {
	var firstDay *time.Time
	if v.first > 0 {
		if err := db.QueryRow(ctx, `SELECT min(day) FROM records WHERE origin = $1`, v.origin).Scan(&firstDay); err != nil {
			return fmt.Errorf("verify the roll-ups of %s: %w", v.origin, err)
		}
		if firstDay == nil {
			return nil // every record was dropped: the roll-ups are all that is left
		}
	}
	for _, c := range rollupChecks {
		var from *time.Time
		if firstDay != nil {
			f := c.start(*firstDay)
			from = &f
		}
		rows, err := db.Query(ctx, fmt.Sprintf(rollupMismatch, c.table, c.period, c.fromRecords), v.origin, from)
		if err != nil {
			return fmt.Errorf("verify %s of %s: %w", c.table, v.origin, err)
		}
		var period, kind, consumer, provider, pool, resource, agreement, reason, outcome string
		var n, b, wantN, wantB int64
		_, err = pgx.ForEachRow(rows, []any{&period, &kind, &consumer, &provider, &pool, &resource, &agreement, &reason, &outcome, &n, &b, &wantN, &wantB}, func() error {
			v.fault(-1, -1, fmt.Sprintf("%s %s (kind %s, consumer %q, provider %q, pool %q, resource %q, agreement %q, reason %q, %s) counts %d records and %d bytes, the records %d and %d: the roll-up (or a row's provider_dept) was changed",
				c.table, period, kind, consumer, provider, pool, resource, agreement, reason, outcome, n, b, wantN, wantB))
			return nil
		})
		if err != nil {
			return fmt.Errorf("verify %s of %s: %w", c.table, v.origin, err)
		}
	}
	for _, c := range rollupChecks {
		var n int64
		if err := db.QueryRow(ctx, fmt.Sprintf(misKeyed, c.table), v.origin).Scan(&n); err != nil {
			return fmt.Errorf("verify the keys of %s of %s: %w", c.table, v.origin, err)
		}
		if n > 0 {
			v.fault(-1, -1, fmt.Sprintf("%d rows of %s hold a group_key that is not their group's: the shipper would count the group in a second row", n, c.table))
		}
	}
	rows, err := db.Query(ctx, orphanRollups)
	if err != nil {
		return fmt.Errorf("verify the roll-ups: %w", err)
	}
	orphans, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("verify the roll-ups: %w", err)
	}
	for _, o := range orphans {
		v.fault(-1, -1, fmt.Sprintf("the roll-ups count origin %q, of which the index holds no checkpoint: the reports would count records no signed log backs", o))
	}
	return nil
}
