package record

import (
	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/policy"
)

// transferRecord is the record's account of a streamed transfer, written in room (the
// pending record's, reused); nil for a buffered
// exchange, whose record then has no transfer member.
// An upload whose answer was not streamed (refused or cut while the consumer's body
// passed, or a bodiless answer) has one too: its outcome and the digest of the body that
// arrived, with nothing received from the provider.
func transferRecord(x *gateway.Exchange, room *audit.Transfer) *audit.Transfer {
	if t := x.Transfer; t != nil {
		*room = audit.Transfer{
			Outcome: t.Outcome, Received: t.Received, ReceivedDigest: t.ReceivedDigest,
			RequestDigest: t.RequestDigest, Rows: t.Rows, WholeDigest: t.WholeDigest,
			PrefixRead: t.PrefixRead,
		}
		return room
	}
	if u := x.Upload; u.Started() {
		*room = audit.Transfer{Outcome: u.Outcome(x), RequestDigest: u.Digest}
		return room
	}
	return nil
}

// transferFields are the fields a streamed body may have carried: the decision's when any
// byte was sent, none otherwise. A stream is not re-read to see which columns its rows
// held (its bytes are gone); the decision bounds them.
func transferFields(d *policy.Decision, t *gateway.Transfer) []string {
	if t.Sent == 0 || len(d.Fields) == 0 {
		return []string{}
	}
	return d.Fields
}
