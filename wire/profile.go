package wire

// The request signature profile: RFC 9421 with algorithm sm2-sm3, one signature labelled
// "govgate" covering RequiredComponents, then the DeclarationComponents the request carries.
const (
	SignatureLabel     = "govgate"
	SignatureAlgorithm = "sm2-sm3"
)

// RequiredComponents are what every govgate request signature covers, first and in this
// order. Read-only: they are the contract, not a setting.
var RequiredComponents = []string{"@method", "@authority", "@path", "@query", FieldContentDigest}

// DeclarationComponents are the consumer's declarations (the agreement it acts under, its
// purpose). As RFC 9421 §2.5 requires, a signature covers one only when the request
// carries it; a request that carries one must cover it, after RequiredComponents and in
// this order. Read-only.
var DeclarationComponents = []string{FieldAgreement, FieldPurpose}

// CoveredComponents are every component a govgate request signature may cover, in order:
// RequiredComponents, then DeclarationComponents. Read-only.
var CoveredComponents = append(append([]string(nil), RequiredComponents...), DeclarationComponents...)

// CoversFor lists the components a signature of m covers: RequiredComponents and each
// declaration m carries.
func CoversFor(m *Message) []string {
	out := append([]string(nil), RequiredComponents...)
	for _, d := range DeclarationComponents {
		if len(m.Header(d)) > 0 {
			out = append(out, d)
		}
	}
	return out
}
