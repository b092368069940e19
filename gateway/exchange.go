package gateway

import (
	"sync"
	"time"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/policy"
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

// Reason is one reason code of a decision, with a message a department can act on.
type Reason = policy.Reason

// Decision is the decide stage's verdict for one exchange.
type Decision struct {
	Evaluated bool
	Allow     bool
	// Policy is the whole decision when the policy engine made it: fields, obligations,
	// agreement, revision. Decisions are shared by the decision cache: never change one.
	Policy *policy.Decision
}

// SignatureEvidence is what the authenticate stage keeps of a verified request signature,
// so that the audit record proves the consumer's request offline.
type SignatureEvidence struct {
	Input, Signature, Base string
	PublicKey              string // hex of the uncompressed SM2 point

	claim   crypto.NonceClaim // the signature's nonce (replay.go)
	claimed bool              // claim holds in the replay store, until released
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

	entry *routeEntry

	scratch []byte // reused per request: header names to delete, the client address
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
}

// exchangePool recycles Exchanges so that the hot path does not allocate one per request.
type exchangePool struct{ p sync.Pool }

func (ep *exchangePool) get() *Exchange {
	if x, ok := ep.p.Get().(*Exchange); ok {
		return x
	}
	return &Exchange{ID: make([]byte, 0, 32)}
}

func (ep *exchangePool) put(x *Exchange) {
	*x = Exchange{
		ID:        x.ID[:0],
		scratch:   x.scratch[:0],
		marks:     x.marks[:0],
		label:     x.label[:0],
		Agreement: x.Agreement[:0],
		Purpose:   x.Purpose[:0],
	}
	ep.p.Put(x)
}
