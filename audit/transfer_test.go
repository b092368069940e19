package audit

import (
	"bytes"
	"testing"
	"time"
)

// TestTransferMemberRoundTrip: a streamed exchange's transfer member is written in
// canonical order, parsed back whole, and a record without one has no such member — the
// bytes of every record written before streamed transfers are unchanged.
func TestTransferMemberRoundTrip(t *testing.T) {
	r := &Record{Seq: 7, Kind: KindExchange, Time: time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC), Fields: []string{}, Status: 200, Route: "ent-exchange", Provider: "p", Resource: "enterprise.registration", Mode: "exchange",
		Transfer: &Transfer{Outcome: TransferCut, Received: 1 << 33, ReceivedDigest: "ab", RequestDigest: "cd", Rows: 12}}
	b := r.Encode()
	if !bytes.Contains(b, []byte(`"time":"2026-12-02T13:00:00Z","transfer":{"outcome":"cut","received":8589934592,"received_digest":"ab","request_digest":"cd","rows":12},"upstream"`)) {
		t.Fatalf("%s", b)
	}
	c, err := Canonicalize(b)
	if err != nil || !bytes.Equal(c, b) {
		t.Fatalf("not canonical: %v\n%s\n%s", err, b, c)
	}
	got, err := ParseRecord(b)
	if err != nil || got.Transfer == nil || *got.Transfer != *r.Transfer {
		t.Fatalf("%+v %v", got, err)
	}
	r.Transfer = nil
	b = r.Encode()
	if bytes.Contains(b, []byte("transfer")) {
		t.Fatalf("a record without a transfer has the member: %s", b)
	}
	if got, err := ParseRecord(b); err != nil || got.Transfer != nil {
		t.Fatalf("%+v %v", got, err)
	}
	// A transfer member out of its place, or with a member missing, is not canonical.
	bad := bytes.Replace(r.Encode(), []byte(`,"upstream"`), []byte(`,"transfer":{"outcome":"cut"},"upstream"`), 1)
	if _, err := ParseRecord(bad); err == nil {
		t.Error("a short transfer member parsed")
	}
}
