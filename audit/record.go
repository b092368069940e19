package audit

import (
	"slices"
	"strconv"
	"time"
)

// RecordVersion is the version of the record format the log writes, the "v" member of
// every record. Version 2 added the members "kind" and "role" (kind.go); version 1
// records are still read and verified (parse.go), their kind inferred.
const RecordVersion = 2

// recordVersion1 is the format before record kinds: no "kind" and no "role" member.
const recordVersion1 = 1

// Record is what the log holds for one request, allowed or refused: a data exchange, a
// catalog read, a refusal before routing or an admin action, as Kind says. Its bytes in the log
// are its canonical JSON (RFC 8785): the encoder below writes the members in canonical
// order directly, so a record never needs re-encoding to be hashed, and Canonicalize on
// the stored bytes returns them unchanged.
type Record struct {
	Seq            uint64     `json:"seq"`
	Kind           Kind       `json:"kind"`
	Time           time.Time  `json:"time"`
	Gateway        string     `json:"gateway"`
	RequestID      string     `json:"request_id"`
	Client         string     `json:"client"`   // the peer's address
	Consumer       Consumer   `json:"consumer"` // who asked; an administrator's certificate for KindAdmin
	Provider       string     `json:"provider"` // the pool of the route
	Upstream       string     `json:"upstream"` // the member that answered
	Route          string     `json:"route"`
	Role           string     `json:"role"` // KindAdmin: the role the admin endpoint needs
	Resource       string     `json:"resource"`
	Mode           string     `json:"mode"`
	Method         string     `json:"method"`
	Path           string     `json:"path"`
	Agreement      string     `json:"agreement"`
	Purpose        string     `json:"purpose"`
	Decision       *Decision  `json:"decision"` // nil when no policy decision was made
	Error          string     `json:"error"`    // the refusal's code; empty when served
	ContentDigest  string     `json:"content_digest"`
	Signature      *Signature `json:"signature"` // nil when the request was not signed
	Status         int        `json:"status"`
	ResponseDigest string     `json:"response_digest"` // hex SM3 of the body sent
	Fields         []string   `json:"fields"`
	Bytes          Bytes      `json:"bytes"`
	LatencyMicros  int64      `json:"latency_us"`
	// Transfer is set on an exchange whose body was streamed (a route in exchange or
	// publish mode); absent from every other record, whose bytes are unchanged by it.
	Transfer *Transfer `json:"transfer,omitempty"`
	Version  int       `json:"v"`
}

// Transfer is what a streamed exchange carried, recorded when it ended. Bytes.Response and
// ResponseDigest are then what was sent to the consumer up to that end; Error names the
// cause when it did not complete.
type Transfer struct {
	// Outcome is TransferCompleted, TransferCut (the gateway ended it: a row it could not
	// release, a limit, a provider that broke off) or TransferAborted (the consumer went
	// away before the end).
	Outcome string `json:"outcome"`
	// Received counts the bytes read from the provider; ReceivedDigest is their hex SM3.
	Received       int64  `json:"received"`
	ReceivedDigest string `json:"received_digest"`
	// RequestDigest is the hex SM3 of the body the consumer sent.
	RequestDigest string `json:"request_digest"`
	// Rows counts the data rows released (0 for an opaque body).
	Rows int64 `json:"rows"`
	// WholeDigest is the hex SM3 of the provider's whole representation, as the gateway
	// measured it and stated it to the consumer (the X-Govgate-Whole-Digest trailer): on a
	// range, of the bytes before it (read from the provider under the same ETag) and the
	// range; on a whole body, of the body. Empty (and absent) when the gateway stated none.
	WholeDigest string `json:"whole_digest,omitempty"`
	// PrefixRead counts the bytes the gateway read from the provider before a range, to
	// measure WholeDigest (whether or not it then stated one): provider traffic the
	// consumer caused and never received. Zero (and absent) when it read none.
	PrefixRead int64 `json:"prefix_read,omitempty"`
	// CatalogMismatch names what of the catalog's statement about a published dataset the
	// provider's complete answer contradicted: "size" (size_bytes), "version" (version vs
	// the ETag), or both as "size,version". Empty (and absent) when it agreed or the
	// catalog states nothing.
	CatalogMismatch string `json:"catalog_mismatch,omitempty"`
}

// The outcomes of a streamed transfer.
const (
	TransferCompleted = "completed"
	TransferCut       = "cut"
	TransferAborted   = "aborted"
)

// Consumer is who asked.
type Consumer struct {
	Dept       string `json:"dept"`
	System     string `json:"system"`
	CertSerial string `json:"cert_serial"`
	// PublicKey is the SM2 public key of the signing certificate (uncompressed point, hex),
	// present when the request was signed so that the signature verifies offline.
	PublicKey string `json:"public_key"`
}

// Decision is the policy's verdict as recorded.
type Decision struct {
	Allow    bool     `json:"allow"`
	Reasons  []string `json:"reasons"`
	Revision string   `json:"revision"`
}

// Signature is the consumer's SM2 request signature: the two fields as sent and the
// signature base they sign, from which an auditor verifies it without the request.
type Signature struct {
	Base      string `json:"base"`
	Input     string `json:"input"`
	Signature string `json:"signature"`
}

// Bytes counts the bodies of the exchange.
type Bytes struct {
	Request  int64 `json:"request"`
	Response int64 `json:"response"`
}

// appendEncoded appends the record's canonical JSON in the current version without its
// sequence number, and says where the number goes (just after `"seq":`), so that the log's
// single writer only splices it in.
func (r *Record) appendEncoded(b []byte) (out []byte, split int) {
	return r.appendVersion(b, RecordVersion)
}

// appendVersion writes the layout of version v: version 1 lacks "kind" and "role".
func (r *Record) appendVersion(b []byte, v int) (out []byte, split int) {
	// Room for the fixed members and the usual values, plus the long ones, so that the
	// record is built without growing (growing was 5 % of the gateway's allocated bytes).
	n := 768 + len(r.Path) + len(r.Consumer.PublicKey) + len(r.Fields)*24
	if r.Signature != nil {
		n += len(r.Signature.Base) + len(r.Signature.Input) + len(r.Signature.Signature)
	}
	b = slices.Grow(b, n)
	b = append(b, `{"agreement":`...)
	b = appendString(b, r.Agreement)
	b = append(b, `,"bytes":{"request":`...)
	b = strconv.AppendInt(b, r.Bytes.Request, 10)
	b = append(b, `,"response":`...)
	b = strconv.AppendInt(b, r.Bytes.Response, 10)
	b = append(b, `},"client":`...)
	b = appendString(b, r.Client)
	b = append(b, `,"consumer":{"cert_serial":`...)
	b = appendString(b, r.Consumer.CertSerial)
	b = append(b, `,"dept":`...)
	b = appendString(b, r.Consumer.Dept)
	b = append(b, `,"public_key":`...)
	b = appendString(b, r.Consumer.PublicKey)
	b = append(b, `,"system":`...)
	b = appendString(b, r.Consumer.System)
	b = append(b, `},"content_digest":`...)
	b = appendString(b, r.ContentDigest)
	b = append(b, `,"decision":`...)
	if r.Decision == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"allow":`...)
		b = strconv.AppendBool(b, r.Decision.Allow)
		b = append(b, `,"reasons":`...)
		b = appendStrings(b, r.Decision.Reasons)
		b = append(b, `,"revision":`...)
		b = appendString(b, r.Decision.Revision)
		b = append(b, '}')
	}
	b = append(b, `,"error":`...)
	b = appendString(b, r.Error)
	b = append(b, `,"fields":`...)
	b = appendStrings(b, r.Fields)
	b = append(b, `,"gateway":`...)
	b = appendString(b, r.Gateway)
	if v > recordVersion1 {
		b = append(b, `,"kind":`...)
		b = appendString(b, string(r.Kind))
	}
	b = append(b, `,"latency_us":`...)
	b = strconv.AppendInt(b, r.LatencyMicros, 10)
	b = append(b, `,"method":`...)
	b = appendString(b, r.Method)
	b = append(b, `,"mode":`...)
	b = appendString(b, r.Mode)
	b = append(b, `,"path":`...)
	b = appendString(b, r.Path)
	b = append(b, `,"provider":`...)
	b = appendString(b, r.Provider)
	b = append(b, `,"purpose":`...)
	b = appendString(b, r.Purpose)
	b = append(b, `,"request_id":`...)
	b = appendString(b, r.RequestID)
	b = append(b, `,"resource":`...)
	b = appendString(b, r.Resource)
	b = append(b, `,"response_digest":`...)
	b = appendString(b, r.ResponseDigest)
	if v > recordVersion1 {
		b = append(b, `,"role":`...)
		b = appendString(b, r.Role)
	}
	b = append(b, `,"route":`...)
	b = appendString(b, r.Route)
	b = append(b, `,"seq":`...)
	split = len(b)
	b = append(b, `,"signature":`...)
	if r.Signature == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"base":`...)
		b = appendString(b, r.Signature.Base)
		b = append(b, `,"input":`...)
		b = appendString(b, r.Signature.Input)
		b = append(b, `,"signature":`...)
		b = appendString(b, r.Signature.Signature)
		b = append(b, '}')
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"time":`...)
	// RFC 3339 text needs no JSON escape: formatted in place, it is what appendString of
	// the formatted string gives, without a string per record.
	b = append(b, '"')
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if t := r.Transfer; t != nil {
		b = append(b, `,"transfer":{`...)
		if t.CatalogMismatch != "" {
			b = append(b, `"catalog_mismatch":`...)
			b = appendString(b, t.CatalogMismatch)
			b = append(b, ',')
		}
		b = append(b, `"outcome":`...)
		b = appendString(b, t.Outcome)
		if t.PrefixRead > 0 {
			b = append(b, `,"prefix_read":`...)
			b = strconv.AppendInt(b, t.PrefixRead, 10)
		}
		b = append(b, `,"received":`...)
		b = strconv.AppendInt(b, t.Received, 10)
		b = append(b, `,"received_digest":`...)
		b = appendString(b, t.ReceivedDigest)
		b = append(b, `,"request_digest":`...)
		b = appendString(b, t.RequestDigest)
		b = append(b, `,"rows":`...)
		b = strconv.AppendInt(b, t.Rows, 10)
		if t.WholeDigest != "" {
			b = append(b, `,"whole_digest":`...)
			b = appendString(b, t.WholeDigest)
		}
		b = append(b, '}')
	}
	b = append(b, `,"upstream":`...)
	b = appendString(b, r.Upstream)
	b = append(b, `,"v":`...)
	b = strconv.AppendInt(b, int64(v), 10)
	b = append(b, '}')
	return b, split
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// Encode returns the record's canonical JSON with its sequence number, in its own version
// (a version 1 record read from an old log encodes as it was stored), or in the current
// one when Version is not set.
func (r *Record) Encode() []byte {
	v := r.Version
	if v != recordVersion1 {
		v = RecordVersion
	}
	b, split := r.appendVersion(nil, v)
	return joinSeq(nil, b[:split], r.Seq, b[split:])
}

func joinSeq(dst, head []byte, seq uint64, tail []byte) []byte {
	dst = append(dst, head...)
	dst = strconv.AppendUint(dst, seq, 10)
	return append(dst, tail...)
}

// ParseRecord decodes a stored record and checks that its bytes are canonical: a record
// changed by hand (reformatted, a member added, duplicated or reordered, a name in another
// case, a string escaped differently) is refused even when its content would parse.
func ParseRecord(b []byte) (*Record, error) { return parseRecordFast(b) }
