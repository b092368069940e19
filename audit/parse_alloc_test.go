package audit

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// The parsed record's strings are its own: the buffer it was read from is reused by the
// reader (a window over the segment) and may be overwritten at once. And a record's string
// members do not cost an allocation each (the shipper parses every record it ships).
func TestParsedRecordOutlivesItsBuffer(t *testing.T) {
	r := &Record{Kind: KindExchange, Time: time.Date(2026, 3, 1, 8, 0, 0, 123000, time.UTC), Gateway: "gw-1", RequestID: "req-1",
		Client: "127.0.0.1:1", Consumer: Consumer{Dept: "110000-rensheju", System: "sys", CertSerial: "01"},
		Provider: "pool", Route: "route", Resource: "hukou.basic", Mode: "query", Method: "GET", Path: "/r/\"q\"",
		Agreement: "agr-1", Purpose: "审核", Status: 200, Fields: []string{"name", "id"}, Bytes: Bytes{Request: 1, Response: 2},
		Decision: &Decision{Allow: true, Reasons: []string{"ok"}, Revision: "rev-1"}}
	buf := r.Encode()
	want, err := ParseRecord(bytes.Clone(buf))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseRecord(buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'x'
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the parsed record changed with its buffer:\n%+v\nwant\n%+v", got, want)
	}
	allocs := testing.AllocsPerRun(100, func() { _, _ = ParseRecord(want.Encode()) }) - testing.AllocsPerRun(100, func() { _ = want.Encode() })
	// 8 now: the record, its string, the decision, the arrays; 26 with a string a member.
	if allocs > 12 {
		t.Fatalf("parsing a record of 18 string members allocates %v times", allocs)
	}
	t.Logf("%v allocations a record", allocs)
}
