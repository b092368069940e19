package gateway

import (
	"sync"
	"time"

	"github.com/govgate/govgate/crypto"
)

// Identity is the authenticated caller, as the authenticate stage established it.
type Identity struct {
	Dept       string // department code from urn:govgate:dept:<code>
	System     string // calling system, the certificate's CN
	CertSerial string // hex serial of the signing certificate
	Issuer     string
	Auth       string // "tlcp", "tls"
	Signed     bool   // the request carried a valid SM2 request signature
}

// Reason is one reason code of a decision, with a message a department can act on. It is
// the policy's reason as refusals carry it; the core declares it so that it needs no
// policy engine to write one.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Decision is the decide stage's verdict for one exchange: the core reads only whether
// one was made and what it was.
type Decision struct {
	Evaluated bool
	Allow     bool
	// Detail is the decide stage's own account of the decision (the policy engine's whole
	// decision: fields, obligations, agreement, revision), for the stages that know its
	// type — release, the record. The core never reads it; a decision may be shared by a
	// cache, so no stage changes it.
	Detail any
}

// SignatureEvidence is what the authenticate stage keeps of a verified request signature,
// so that the audit record proves the consumer's request offline.
type SignatureEvidence struct {
	Input, Signature, Base string
	PublicKey              string // hex of the uncompressed SM2 point

	Claim   crypto.NonceClaim // the signature's nonce, for the authenticate stage that claimed it
	Claimed bool              // Claim holds in the replay store, until released (nonces.go)
}

// Exchange is the state of one request as it crosses the pipeline. Exchanges are pooled:
// a stage must not keep a pointer to one after its call returns.
type Exchange struct {
	ID       []byte
	Start    time.Time
	Listener *Listener
	Route    *Route
	// Admin is set on a request to the admin API: the role its endpoint needs. Such a
	// request is audited as an admin action, with no route.
	Admin     Role
	Identity  Identity
	Signature SignatureEvidence // set when Identity.Signed
	Decision  Decision
	Upstream  string // address of the member that served it, if any
	Agreement []byte // declared by the consumer in X-Govgate-Agreement
	Purpose   []byte // declared by the consumer in X-Govgate-Purpose
	// AgreementSent and PurposeSent: the request carried the field, even empty. A
	// signature must cover a declaration exactly when it is carried (RFC 9421 §2.5).
	AgreementSent, PurposeSent bool
	Err                        *Error // why the exchange was refused or failed; nil when it succeeded
	// Transfer is set when the response's body streams (stream.go): its record is written
	// when the transfer ends, from what Transfer says it carried.
	Transfer *Transfer
	// Upload is set when the consumer's body streams to the provider (streamupload.go):
	// Request.Body() is then not the body, and must not be read.
	Upload *Upload

	entry *routeEntry

	// body holds a request body read whole by the gateway (streamupload.go), reused.
	body []byte

	scratch []byte // reused per request: header names to delete, the client address
	// receipt is the room the audit stage writes the receipt in (Auditor), reused: the
	// response's header takes a copy.
	receipt []byte
	marks   []int

	// The provider's X-Classification, taken out of its response by stripResponseHeaders
	// for the release stage: the first value, how many fields there were, and whether the
	// response's Connection header nominated it.
	label          []byte
	labels         int
	labelNominated bool

	// partial: the provider answered 206 or sent Content-Range (partialResponse), noted
	// before stripResponseHeaders removes the field, for the release stage to refuse on a
	// resource it filters.
	partial bool
	// span: the bytes its one well-formed Content-Range announces, 0 when it sent none,
	// -1 when several or a malformed one (partialResponse).
	span int64

	// whole: what the provider's head said of its whole representation (streamdigest.go),
	// taken with partial; releasedWhole: the release stage passes the body whole.
	whole         providerWhole
	releasedWhole bool
	// prefixRead: the bytes read from the provider before a range (Transfer.PrefixRead).
	prefixRead int64
}

// Partial reports that the provider answered with a part of its response (206 or
// Content-Range), which the release stage refuses on a resource it filters: the field
// itself is gone from the response by then.
func (x *Exchange) Partial() bool { return x.partial }

// maxPooledBody is the largest request body buffer an exchange keeps for its next use.
const maxPooledBody = 64 << 10

// exchangePool recycles Exchanges so that the hot path does not allocate one per request.
type exchangePool struct{ p sync.Pool }

func (ep *exchangePool) get() *Exchange {
	if x, ok := ep.p.Get().(*Exchange); ok {
		return x
	}
	return &Exchange{ID: make([]byte, 0, 32)}
}

func (ep *exchangePool) put(x *Exchange) {
	body := x.body[:0]
	if cap(body) > maxPooledBody {
		body = nil // a rare large body is not kept for every later small one
	}
	*x = Exchange{
		body:      body,
		ID:        x.ID[:0],
		scratch:   x.scratch[:0],
		receipt:   x.receipt[:0],
		marks:     x.marks[:0],
		label:     x.label[:0],
		Agreement: x.Agreement[:0],
		Purpose:   x.Purpose[:0],
	}
	ep.p.Put(x)
}
