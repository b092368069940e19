package index

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/jackc/pgx/v5"
)

// edgeRecords are records whose columns hold what a hand-written binary encoder gets
// wrong: NUL bytes (U+FFFD in the columns), quotes, backslashes and braces (array text
// syntax), empty strings and arrays with empty elements, long texts, extreme integers,
// times before the Unix and PostgreSQL epochs, at the Beijing month boundary, and far
// from 2000 (a time.Duration from 2000 overflows past ±292 years).
func edgeRecords() []*audit.Record {
	long := strings.Repeat("长文本-", 40000)
	times := []time.Time{
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 31, 15, 59, 59, 999999000, time.UTC), // Beijing: Jan 31 23:59
		time.Date(2026, 1, 31, 16, 0, 0, 0, time.UTC),           // Beijing: Feb 1 00:00
		time.Date(2026, 12, 31, 16, 0, 0, 123456789, time.UTC),  // Beijing: 2027
		time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2500, 6, 15, 12, 0, 0, 0, time.UTC),
		time.Date(1600, 6, 15, 12, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
	}
	var out []*audit.Record
	for i, at := range times {
		r := &audit.Record{Kind: audit.KindExchange, Time: at, Gateway: "gw\x00nul", RequestID: fmt.Sprintf("req-%d", i),
			Client: "127.0.0.1:1", Consumer: audit.Consumer{Dept: `dept "q" \ {a,b}`, System: "", CertSerial: "01"},
			Provider: "pool", Route: "route", Resource: long, Mode: "query", Method: "GET", Path: "/r",
			Agreement: "NULL", Purpose: "'; DROP TABLE records; --", Status: []int{0, -1, 1 << 31, -(1 << 31) - 1, 200}[i%5],
			Bytes:  audit.Bytes{Request: []int64{-1 << 63, 0, 1<<63 - 1}[i%3], Response: []int64{1<<63 - 1, -5, 0}[i%3]},
			Fields: [][]string{nil, {}, {""}, {"", ""}, {`a"b`, `c\d`, "{e,f}", "NULL", "x\x00y", long}}[i%5],
			Decision: []*audit.Decision{nil, {Allow: true, Reasons: []string{}, Revision: ""},
				{Allow: false, Reasons: []string{"", `"`, "no_agreement", "a,b", "\x00"}, Revision: "rev\x00"}}[i%3]}
		if i%4 == 3 {
			r.Error = "upstream \x00 failed"
		}
		out = append(out, r)
	}
	return out
}

func edgeRows(t testing.TB, origin string) []Row {
	t.Helper()
	var out []Row
	for i, r := range edgeRecords() {
		b := r.Encode()
		parsed, err := audit.ParseRecord(b)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		out = append(out, NewRow(origin, uint64(i), b, audit.Hasher{}.HashLeaf(b), parsed, func(string) string { return "prov\x00\"{}" }))
	}
	return out
}

// The rows copied by the hand-written binary encoder are, column for column, what pgx's
// CopyFrom (the previous path) stores for the same rows; and verify --db finds no column
// differing from its record.
func TestBinaryCopyMatchesPgx(t *testing.T) {
	ctx := context.Background()
	_, db := migrated(t)
	bin := edgeRows(t, "bin")
	b := &Batch{Rows: bin, First: &Progress{Origin: "bin", Range: [][]byte{}},
		Progress: Progress{Origin: "bin", Next: uint64(len(bin)), Range: [][]byte{}, CkptRoot: []byte{}}}
	if err := Ship(ctx, db, b); err != nil {
		t.Fatalf("binary copy of the edge rows: %v", err)
	}
	txt := edgeRows(t, "pgx")
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ensurePartitions(ctx, tx, txt); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"records"}, columns, pgx.CopyFromSlice(len(txt), func(i int) ([]any, error) {
		return txt[i].values(), nil
	})); err != nil {
		t.Fatalf("pgx copy of the edge rows: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	cols := strings.Join(columns[1:], ", ")
	diff := count(t, db, `SELECT count(*) FROM (
		(SELECT `+cols+` FROM records WHERE origin = 'bin' EXCEPT SELECT `+cols+` FROM records WHERE origin = 'pgx')
		UNION ALL
		(SELECT `+cols+` FROM records WHERE origin = 'pgx' EXCEPT SELECT `+cols+` FROM records WHERE origin = 'bin')) AS d`)
	if diff != 0 {
		for _, c := range columns[1:] {
			n := count(t, db, fmt.Sprintf(`SELECT count(*) FROM records b JOIN records p ON b.idx = p.idx AND b.origin = 'bin' AND p.origin = 'pgx' WHERE b.%[1]s IS DISTINCT FROM p.%[1]s`, c))
			if n != 0 {
				t.Errorf("column %s differs between the binary and the pgx copy in %d rows", c, n)
			}
		}
		t.Fatalf("%d rows differ between the binary and the pgx copy", diff)
	}
	// Refused before any column is made: invalid UTF-8 in a record's bytes (which no text
	// column, binary or not, would take) is a record that does not verify.
	b0 := bytes.Replace(bin[0].Record, []byte(`"req-0"`), []byte("\"r\xffq-0\""), 1)
	if _, _, err := audit.CheckRecord(b0); err == nil || bytes.Equal(b0, bin[0].Record) {
		t.Fatalf("a record with invalid UTF-8 passed: %v", err)
	}
	if n := count(t, db, `SELECT count(*) FROM records WHERE origin = 'bin'`); n != int64(len(bin)) {
		t.Fatalf("%d rows stored, want %d", n, len(bin))
	}
	for _, origin := range []string{"bin", "pgx"} {
		rep, _ := Verify(ctx, db, origin, nil)
		if rep == nil {
			t.Fatalf("verify %s made no report", origin)
		}
		for _, f := range rep.Faults {
			if strings.Contains(f.What, "column") || strings.Contains(f.What, "hash") {
				t.Errorf("verify %s: %v", origin, f)
			}
		}
	}
}

// A row whose tuple says something else than its record, column by column (what an
// encoder that got one type wrong would store), is found by verify --db: every column but
// provider_dept (the shipper's catalog, not the record, says it) is checked against the
// record the row keeps.
func TestVerifyFindsMisencodedColumns(t *testing.T) {
	ctx := context.Background()
	_, db := migrated(t)
	good := edgeRows(t, "x")[2] // a decision with reasons, a field, NULs in texts, before 2000
	mutate := map[string]func(r *Row){
		"t": func(r *Row) { r.Time = r.Time.Add(time.Microsecond) }, "day": func(r *Row) { r.Day = r.Day.AddDate(0, 0, -1) },
		"kind": func(r *Row) { r.Kind += "x" }, "sharing": func(r *Row) { r.Sharing = !r.Sharing },
		"gateway":    func(r *Row) { r.Gateway = strings.ReplaceAll(r.Gateway, "\uFFFD", "?") },
		"request_id": func(r *Row) { r.RequestID = "" }, "consumer_dept": func(r *Row) { r.ConsumerDept += " " },
		"consumer_system": func(r *Row) { r.ConsumerSystem = "s" }, "pool": func(r *Row) { r.Pool = "" },
		"route": func(r *Row) { r.Route = "" }, "resource": func(r *Row) { r.Resource = r.Resource[:len(r.Resource)-1] },
		"agreement": func(r *Row) { r.Agreement = "" }, "purpose": func(r *Row) { r.Purpose = "" },
		"mode": func(r *Row) { r.Mode = "" }, "method": func(r *Row) { r.Method = "" },
		"allow": func(r *Row) { r.Allow = nil }, "reasons": func(r *Row) { r.Reasons = r.Reasons[1:] },
		"error": func(r *Row) { r.Error = "e" }, "status": func(r *Row) { r.Status++ },
		"outcome": func(r *Row) { r.Outcome = "allowed" }, "reason": func(r *Row) { r.Reason = "" },
		"bytes_request": func(r *Row) { r.BytesRequest ^= 1 }, "bytes_response": func(r *Row) { r.BytesResponse ^= 1 << 40 },
		"fields": func(r *Row) { r.Fields = append(r.Fields, "") }, "policy_revision": func(r *Row) { r.PolicyRevision = "rev" },
		"leaf_hash": func(r *Row) { r.Leaf = append([]byte{}, r.Leaf[1:]...) }, "record": func(r *Row) { r.Record = r.Record[:len(r.Record)-1] },
	}
	for _, c := range columns {
		if c == "origin" || c == "idx" || c == "provider_dept" {
			continue
		}
		m := mutate[c]
		if m == nil {
			t.Fatalf("no mis-encoding of column %s tried", c)
		}
		origin := "bad-" + c
		row := good
		row.Origin = origin
		row.Index = 0
		bad := row
		bad.Reasons = append([]string{}, row.Reasons...)
		m(&bad)
		bad.Encode()
		row.tuple = bad.tuple
		if !bad.Time.Equal(row.Time) {
			row.Time = bad.Time // the partition
		}
		err := Ship(ctx, db, &Batch{Rows: []Row{row}, First: &Progress{Origin: origin, Range: [][]byte{}},
			Progress: Progress{Origin: origin, Next: 1, Range: [][]byte{}, CkptRoot: []byte{}}})
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		rep, _ := Verify(ctx, db, origin, nil)
		found := false
		for _, f := range rep.Faults {
			found = found || strings.Contains(f.What, "column "+c+" ") || (c == "leaf_hash" || c == "record") && strings.Contains(f.What, "leaf_hash")
		}
		if !found {
			t.Errorf("a row whose %s is mis-encoded passed verify: %v", c, rep.Faults)
		}
	}
}

// A row's tuple is allocated once, at its size: a short estimate grew it at the record's
// bytes (a second allocation, the tuple copied and cleared again), a long one keeps memory
// no tuple uses in every row held until shipped.
func TestEncodeAllocatesTheTupleOnce(t *testing.T) {
	all := append(edgeRows(t, "govgate.test/edge"), rows("govgate.test/gw-a", 0, 20, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))...)
	for i := range all {
		r := &all[i]
		allocs := testing.AllocsPerRun(10, r.Encode)
		if allocs != 1 || len(r.tuple) != cap(r.tuple) {
			t.Fatalf("row %d (record of %d bytes): %v allocations, a tuple of %d bytes in %d", i, len(r.Record), allocs, len(r.tuple), cap(r.tuple))
		}
	}
}
