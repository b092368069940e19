package record

import "testing"

// TestReviewResetDropsTheReleasedFields: the pending record's room for a part of the
// decision's fields is filled by releasedFields as record does (room[:0], its length
// never the room's own), and reset must drop what it holds like every other part: before
// the fix clear(p.fields) cleared a slice of length 0, so the last exchange's field names
// stayed in the pooled room until a later exchange wrote over them.
func TestReviewResetDropsTheReleasedFields(t *testing.T) {
	p := new(pendingRecord)
	p.fields = make([]string, 0, 16)
	got, ok := releasedFields([]byte(`{"name":"x"}`), []string{"taxpayer_id", "name", "tax_status"}, p.fields)
	if !ok || len(got) != 1 || got[0] != "name" || &got[:1][0] != &p.fields[:1][0] {
		t.Fatalf("a part of the fields not written in the room: %v %v", got, ok)
	}
	p.rec.Fields = got
	p.reset()
	if room := p.fields[:cap(p.fields)]; room[0] != "" || len(p.fields) != 0 || p.rec.Fields != nil {
		t.Fatalf("reset kept the released fields %q", room[:1])
	}
	// Refused: all the fields present is the decision's own slice, never the room, so
	// that nothing written in the room reaches the decision.
	fields := []string{"name"}
	got, _ = releasedFields([]byte(`{"name":"x"}`), fields, p.fields)
	if &got[0] != &fields[0] || p.fields[:1][0] != "" {
		t.Fatalf("every field released: %v, room %q", got, p.fields[:1])
	}
}
