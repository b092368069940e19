package gateway_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/govgate/govgate/audit"
)

// A cut transfer's record counts the rows the consumer got, not the rows cut from the
// window that was then withheld: the rows before the malformed one in its window are not
// sent, so they must not be on the record either (the record is what was released).
func TestStreamCutRecordsOnlyRowsSent(t *testing.T) {
	var rows strings.Builder
	rows.WriteString("uscc,name,status\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&rows, "9111%014d,企业%d,存续\n", i, i)
	}
	rows.WriteString("91119999,\"broken\"x,存续\n")
	var l *audit.Log
	g := startPolicyGateway(t, 0, csvProvider("text/csv", rows.String(), 1000), withStreamRoutes(0), withAuditLog(t, t.TempDir(), &l))
	r := getStream(t, g.base+"/ent/changes.csv", exchanger)
	if r.err == nil {
		t.Fatal("a cut transfer read as complete")
	}
	got := int64(bytes.Count(r.body, []byte("\n"))) - 1 // the header row is not a data row
	b, err := l.Record(l.Size() - 1)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := audit.ParseRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Transfer == nil || rec.Transfer.Outcome != audit.TransferCut {
		t.Fatalf("record %+v", rec)
	}
	if rec.Transfer.Rows != got || rec.Bytes.Response != int64(len(r.body)) {
		t.Errorf("the record says %d rows and %d bytes were released; the consumer got %d rows in %d bytes", rec.Transfer.Rows, rec.Bytes.Response, got, len(r.body))
	}
}
