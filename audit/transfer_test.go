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

// TestTransferWholeDigestAndCatalogMismatch: the optional members are written only when
// set, in canonical (alphabetical) place, round-trip, and an empty one written out is
// not canonical.
func TestTransferWholeDigestAndCatalogMismatch(t *testing.T) {
	r := &Record{Seq: 7, Kind: KindExchange, Time: time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC), Fields: []string{}, Status: 206, Route: "pub", Provider: "p", Resource: "legal_entity.published_list", Mode: "publish",
		Transfer: &Transfer{CatalogMismatch: "size", Outcome: TransferCompleted, Received: 10, ReceivedDigest: "ab", RequestDigest: "cd", WholeDigest: "ef"}}
	b := r.Encode()
	if !bytes.Contains(b, []byte(`"transfer":{"catalog_mismatch":"size","outcome":"completed","received":10,"received_digest":"ab","request_digest":"cd","rows":0,"whole_digest":"ef"},"upstream"`)) {
		t.Fatalf("%s", b)
	}
	got, err := ParseRecord(b)
	if err != nil || got.Transfer == nil || *got.Transfer != *r.Transfer {
		t.Fatalf("%+v %v", got, err)
	}
	if c, err := Canonicalize(b); err != nil || !bytes.Equal(c, b) {
		t.Fatalf("not canonical: %v", err)
	}
	for _, bad := range [][]byte{
		bytes.Replace(b, []byte(`"whole_digest":"ef"`), []byte(`"whole_digest":""`), 1),
		bytes.Replace(b, []byte(`"catalog_mismatch":"size"`), []byte(`"catalog_mismatch":""`), 1),
	} {
		if _, err := ParseRecord(bad); err == nil {
			t.Errorf("an empty optional member parsed: %s", bad)
		}
	}
}

// TestTransferPrefixRead: the bytes read before a range are written only when some were,
// after outcome (canonical order), round-trip, and a zero or negative one is not canonical.
func TestTransferPrefixRead(t *testing.T) {
	r := &Record{Seq: 8, Kind: KindExchange, Time: time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC), Fields: []string{}, Status: 206, Route: "x", Provider: "p", Resource: "tiles", Mode: "exchange",
		Transfer: &Transfer{Outcome: TransferCompleted, PrefixRead: 311999, Received: 1, ReceivedDigest: "ab", RequestDigest: "cd", WholeDigest: "ef"}}
	b := r.Encode()
	if !bytes.Contains(b, []byte(`"transfer":{"outcome":"completed","prefix_read":311999,"received":1,`)) {
		t.Fatalf("%s", b)
	}
	got, err := ParseRecord(b)
	if err != nil || got.Transfer == nil || *got.Transfer != *r.Transfer {
		t.Fatalf("%+v %v", got, err)
	}
	if c, err := Canonicalize(b); err != nil || !bytes.Equal(c, b) {
		t.Fatalf("not canonical: %v", err)
	}
	for _, v := range []string{"0", "-1"} {
		if _, err := ParseRecord(bytes.Replace(b, []byte(`"prefix_read":311999`), []byte(`"prefix_read":`+v), 1)); err == nil {
			t.Errorf("prefix_read %s parsed", v)
		}
	}
	r.Transfer.PrefixRead = 0
	if bytes.Contains(r.Encode(), []byte("prefix_read")) {
		t.Error("a zero prefix_read written")
	}
}
