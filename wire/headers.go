package wire

// The header fields of the govgate exchange, in canonical form. Field names are
// case-insensitive on the wire; the gateway compares them in any case without converting
// (a conversion would allocate on its hot path), so no lower-case byte copies are kept.
const (
	// Sent by the consumer: its declarations, covered by its signature when sent.
	HeaderAgreement = "X-Govgate-Agreement"
	HeaderPurpose   = "X-Govgate-Purpose"

	// The consumer's RFC 9421 request signature and the RFC 9530 digest of the body it
	// covers; forwarded to the provider once the gateway has checked them.
	HeaderSignature      = "Signature"
	HeaderSignatureInput = "Signature-Input"
	HeaderContentDigest  = "Content-Digest"

	// Asserted by the gateway towards the provider; a consumer's own are stripped.
	HeaderConsumerDept   = "X-Govgate-Consumer-Dept"
	HeaderConsumerSystem = "X-Govgate-Consumer-System"
	HeaderConsumerCert   = "X-Govgate-Consumer-Cert"
	// HeaderSigned carries SignatureAlgorithm when the request's signature verified.
	HeaderSigned         = "X-Govgate-Signed"
	HeaderForwardedFor   = "X-Forwarded-For"
	HeaderForwardedProto = "X-Forwarded-Proto"

	// Set by the gateway in both directions: the exchange's id, as the audit record has it.
	HeaderRequestID = "X-Request-Id"

	// Sent by the provider, checked and rewritten by the gateway: the response's label.
	HeaderClassification = "X-Classification"

	// Sent by the gateway to the consumer: the audit receipt of the exchange.
	HeaderReceipt = "X-Govgate-Receipt"
	// HeaderRecordKind is sent by the admin API on every answer, as "admin": its records
	// are of kind admin and carry no receipt (probes are not recorded), which a client
	// tells apart from a data listener without an audit stage.
	HeaderRecordKind = "X-Govgate-Record-Kind"
	// HeaderRetryAfter is on a 429: the seconds until the quota window that is full ends.
	HeaderRetryAfter = "Retry-After"

	// The trailers of a streamed transfer (routes in exchange and publish mode), announced
	// in the response's Trailer field and sent after its last chunk; the receipt then goes
	// as a trailer under HeaderReceipt, naming a record written when the transfer ended.
	// HeaderDigest is "sm3=" and the hex SM3 of the body sent; HeaderRows and HeaderBytes
	// count its rows (0 for an opaque body) and bytes. A transfer the gateway cuts ends
	// with HeaderTransferError (the refusal's code) after the last chunk and without the
	// empty line that ends the trailer section, so no reader takes it for complete.
	HeaderTrailer       = "Trailer"
	HeaderDigest        = "X-Govgate-Digest"
	HeaderRows          = "X-Govgate-Rows"
	HeaderBytes         = "X-Govgate-Bytes"
	HeaderTransferError = "X-Govgate-Error"
	// DigestPrefix starts the value of HeaderDigest.
	DigestPrefix = "sm3="
	// HeaderReprDigest is the provider's RFC 9530 digest of the whole representation,
	// "sm3=:<base64>:", released by a route that lists it in response_headers: what a
	// download resumed with Range (govgate call --continue-at -) is checked against at its
	// end, since HeaderDigest covers only the range sent.
	HeaderReprDigest = "Repr-Digest"

	// ReleasedTagPrefix starts the opaque-tag of the ETag the gateway states for a resource
	// it releases row by row on a publish route (the provider's ETag describes the whole
	// document, not the cut): "gg2.<base64url of the provider's entity-tag sealed under
	// SM4-GCM with the release profile as associated data>", weak when the provider's is
	// (gateway.TagSealer). On If-None-Match the gateway recovers the provider's tag from it
	// only while the consumer's release profile is the same. (gg1 carried the profile and
	// the provider's tag in the clear: an oracle on the withheld fields.)
	ReleasedTagPrefix = "gg2."
	// HeaderWholeDigest is a trailer the gateway states on an opaque streamed transfer:
	// "sm3=" and the hex SM3 of the whole representation, which on a 206 the gateway
	// measured itself (it read the bytes before the range from the provider under the same
	// ETag) and on a 200 is the body's. What govgate call --continue-at - checks a resumed
	// file against when the provider states no Repr-Digest; the audit record has it too.
	HeaderWholeDigest = "X-Govgate-Whole-Digest"

	// GovgatePrefix starts every field only the gateway may assert; a consumer's or a
	// provider's field with this prefix never crosses the gateway.
	GovgatePrefix = "X-Govgate-"
)

// The same fields in lower case: how RFC 9421 names a covered field, and how a Message's
// Header is asked for one.
const (
	FieldAgreement      = "x-govgate-agreement"
	FieldPurpose        = "x-govgate-purpose"
	FieldSignature      = "signature"
	FieldSignatureInput = "signature-input"
	FieldContentDigest  = "content-digest"
)
