package crypto

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/govgate/govgate/wire"
)

// The request signature profile of DESIGN.md, whose names are wire's: RFC 9421 with
// algorithm sm2-sm3, one signature labelled "govgate".
const (
	SignatureLabel     = wire.SignatureLabel
	SignatureAlgorithm = wire.SignatureAlgorithm
	DefaultSkew        = 300 * time.Second
	// DefaultFutureSkew is how far ahead of the gateway's clock created may be. It is
	// smaller than DefaultSkew on purpose: a nonce is remembered until created+Skew, so a
	// signature dated in the future would otherwise occupy the replay cache for up to
	// twice the window.
	DefaultFutureSkew = 30 * time.Second
)

// The component lists of the profile, as wire states them.
var (
	RequiredComponents    = wire.RequiredComponents
	DeclarationComponents = wire.DeclarationComponents
	CoveredComponents     = wire.CoveredComponents
)

// CoversFor lists the components a signature of m covers (wire.CoversFor).
func CoversFor(m *Message) []string { return wire.CoversFor(m) }

// Message is a request as a signature sees it (wire.Message).
type Message = wire.Message

// SignatureHeaders are the three fields a signed request carries.
type SignatureHeaders struct {
	ContentDigest  string
	SignatureInput string
	Signature      string
}

// ContentDigest returns the Content-Digest value for body: sm3=:<base64>:.
func ContentDigest(body []byte) string {
	d := SM3(body)
	return ContentDigestOf(d[:])
}

// ContentDigestOf returns the Content-Digest value of a body whose SM3 digest is sum (a
// body digested while it is read, such as a file streamed).
func ContentDigestOf(sum []byte) string {
	return "sm3=:" + base64.StdEncoding.EncodeToString(sum) + ":"
}

// SignRequest signs m as the profile says: it covers x-govgate-agreement and
// x-govgate-purpose only when m.Header reports them. The Content-Digest it returns is the
// one the signature covers: m.Header must not already report a different one.
func SignRequest(s *Signer, keyID string, m *Message, body []byte, now time.Time) (SignatureHeaders, error) {
	return SignRequestDigest(s, keyID, m, ContentDigest(body), now)
}

// SignRequestDigest is SignRequest for a body known by its Content-Digest value (a file
// digested before it is streamed, ContentDigestOf): the signature covers the digest, and
// the gateway checks the body against it as the body passes.
func SignRequestDigest(s *Signer, keyID string, m *Message, digest string, now time.Time) (SignatureHeaders, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return SignatureHeaders{}, fmt.Errorf("sign request: nonce: %w", err)
	}
	withDigest := *m
	withDigest.Header = func(name string) []string {
		if name == wire.FieldContentDigest {
			return []string{digest}
		}
		return m.Header(name)
	}
	covers := CoversFor(m)
	items := make([]httpsfv.Item, len(covers))
	for i, c := range covers {
		items[i] = httpsfv.NewItem(c)
	}
	params := httpsfv.NewParams()
	params.Add("created", now.Unix())
	params.Add("nonce", base64.RawURLEncoding.EncodeToString(nonce))
	params.Add("keyid", keyID)
	params.Add("alg", SignatureAlgorithm)
	sigParams := httpsfv.InnerList{Items: items, Params: params}

	base, err := SignatureBase(&withDigest, sigParams)
	if err != nil {
		return SignatureHeaders{}, fmt.Errorf("sign request: %w", err)
	}
	sig, err := s.Sign([]byte(base))
	if err != nil {
		return SignatureHeaders{}, fmt.Errorf("sign request: %w", err)
	}
	input := httpsfv.NewDictionary()
	input.Add(SignatureLabel, sigParams)
	inputStr, err := httpsfv.Marshal(input)
	if err != nil {
		return SignatureHeaders{}, fmt.Errorf("sign request: Signature-Input: %w", err)
	}
	sigDict := httpsfv.NewDictionary()
	sigDict.Add(SignatureLabel, httpsfv.NewItem(sig))
	sigStr, err := httpsfv.Marshal(sigDict)
	if err != nil {
		return SignatureHeaders{}, fmt.Errorf("sign request: Signature: %w", err)
	}
	return SignatureHeaders{ContentDigest: digest, SignatureInput: inputStr, Signature: sigStr}, nil
}

// SignatureBase is wire.SignatureBase, with a covered field the message does not carry
// refused as SigAbsent.
func SignatureBase(m *Message, sigParams httpsfv.InnerList) (string, error) {
	base, err := wire.SignatureBase(m, sigParams)
	var absent *wire.AbsentError
	if errors.As(err, &absent) {
		return "", sigErr(SigAbsent, "%s", absent.Error())
	}
	return base, err
}

// The reasons a request signature is refused; SignatureError.Code is one of them.
const (
	SigMissing        = "signature_missing"
	SigMalformed      = "signature_malformed"
	SigProfile        = "signature_profile"
	SigExpired        = "signature_stale"
	SigReplayed       = "signature_replayed"
	SigDigestMismatch = "content_digest_mismatch"
	SigUnknownKey     = "signature_unknown_keyid"
	SigInvalid        = "signature_invalid"
	SigReplayFull     = "replay_cache_full"
	// SigRepeated: Signature, Signature-Input or Content-Digest sent on more than one
	// line, or with more than one member. One reading of the fields is verified and
	// recorded; a second member is a second reading, so it is refused rather than chosen.
	SigRepeated = "signature_field_repeated"
	// SigAbsent: the signature covers a field the request does not carry (RFC 9421 §2.5).
	SigAbsent = "signature_component_absent"
	// SigUncovered: the request carries X-Govgate-Agreement or X-Govgate-Purpose but the
	// signature does not cover it, so the declaration is not the signer's.
	SigUncovered = "signature_component_uncovered"
)

// SignatureError says why a request signature was refused, in a form a department can act on.
type SignatureError struct {
	Code   string
	Reason string
}

func (e *SignatureError) Error() string { return e.Code + ": " + e.Reason }

func sigErr(code, format string, args ...any) *SignatureError {
	return &SignatureError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// Covers reports whether the signature covers the component name.
func (p *ParsedSignature) Covers(name string) bool {
	for _, it := range p.Params.Items {
		if s, _ := it.Value.(string); s == name {
			return true
		}
	}
	return false
}

// ParsedSignature is the govgate member of Signature-Input and Signature, checked against
// the profile.
type ParsedSignature struct {
	Params    httpsfv.InnerList
	Created   time.Time
	Nonce     string
	KeyID     string
	Signature []byte
	// Base is the signature base the signature verified over, set by Verify; the audit
	// record keeps it so that the signature can be checked again without the request.
	Base string
}

// Limits on what a peer can make the gateway parse and remember.
const (
	maxNonceLen  = 128
	maxKeyIDLen  = 128
	maxSigHeader = 8 << 10
)

// ParseSignature reads the govgate signature from the Signature-Input and Signature field
// values and checks that it follows the profile: RequiredComponents, then declarations
// from DeclarationComponents in order, the algorithm sm2-sm3, and created, nonce and keyid
// present. Whether the covered declarations are the ones the request carries is for the
// verifier, which has the request.
func ParseSignature(input, signature []string) (*ParsedSignature, error) {
	if len(input) == 0 && len(signature) == 0 {
		return nil, sigErr(SigMissing, "the request carries no Signature-Input and Signature")
	}
	if fieldLen(input) > maxSigHeader || fieldLen(signature) > maxSigHeader {
		return nil, sigErr(SigMalformed, "signature fields exceed %d bytes", maxSigHeader)
	}
	if err := single(wire.HeaderSignatureInput, input); err != nil {
		return nil, err
	}
	if err := single(wire.HeaderSignature, signature); err != nil {
		return nil, err
	}
	in, err := httpsfv.UnmarshalDictionary(input)
	if err != nil {
		return nil, sigErr(SigMalformed, "Signature-Input is not a structured dictionary: %v", err)
	}
	sd, err := httpsfv.UnmarshalDictionary(signature)
	if err != nil {
		return nil, sigErr(SigMalformed, "Signature is not a structured dictionary: %v", err)
	}
	m, ok := in.Get(SignatureLabel)
	if !ok {
		return nil, sigErr(SigMissing, "Signature-Input has no %q member", SignatureLabel)
	}
	il, ok := m.(httpsfv.InnerList)
	if !ok {
		return nil, sigErr(SigMalformed, "Signature-Input %q is not an inner list", SignatureLabel)
	}
	sm, ok := sd.Get(SignatureLabel)
	if !ok {
		return nil, sigErr(SigMissing, "Signature has no %q member", SignatureLabel)
	}
	si, ok := sm.(httpsfv.Item)
	if !ok {
		return nil, sigErr(SigMalformed, "Signature %q is not an item", SignatureLabel)
	}
	sig, ok := si.Value.([]byte)
	if !ok || len(sig) == 0 {
		return nil, sigErr(SigMalformed, "Signature %q is not a byte sequence", SignatureLabel)
	}
	p := &ParsedSignature{Params: il, Signature: sig}
	if err := p.checkProfile(); err != nil {
		return nil, err
	}
	return p, nil
}

// single refuses a field sent on more than one line or with more than one member: the
// govgate profile has exactly one signature, and one digest algorithm.
func single(name string, values []string) error { return singleField(name, values) }

// CheckSingleField is single for the raw values of one field as a server holds them; it
// allocates nothing when they pass, so that every request can be checked.
func CheckSingleField(name string, values [][]byte) error { return singleField(name, values) }

func singleField[T string | []byte](name string, values []T) error {
	if len(values) > 1 {
		return sigErr(SigRepeated, "%s is sent on %d lines; send it once", name, len(values))
	}
	if len(values) == 1 {
		if n := fieldMembers(values[0]); n > 1 {
			return sigErr(SigRepeated, "%s has %d members; the profile allows exactly one", name, n)
		}
	}
	return nil
}

// CheckSingleFields refuses a request whose Signature, Signature-Input or Content-Digest
// is repeated (several lines, several members, a label twice), whether or not it is
// signed: the gateway forwards these fields, and a provider must not read a digest or a
// signature the gateway did not check.
func CheckSingleFields(header func(name string) []string) error {
	for _, f := range [...]struct{ name, lower string }{
		{wire.HeaderSignatureInput, wire.FieldSignatureInput}, {wire.HeaderSignature, wire.FieldSignature},
		{wire.HeaderContentDigest, wire.FieldContentDigest},
	} {
		if err := single(f.name, header(f.lower)); err != nil {
			return err
		}
	}
	return nil
}

// fieldMembers counts the top-level members of a structured field value (RFC 8941): the
// commas outside strings and inner lists, plus one. It does not validate; a value that
// does not parse is refused by the parser. Counting, rather than asking the parser, is
// what sees a label sent twice, which the parser merges silently (the last one wins).
func fieldMembers[T string | []byte](v T) int {
	blank := true
	for i := 0; i < len(v) && blank; i++ {
		blank = v[i] == ' ' || v[i] == '\t'
	}
	if blank {
		return 0
	}
	n, depth, inString := 1, 0, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case inString && c == '\\':
			i++ // the escaped character cannot end the string
		case c == '"':
			inString = !inString
		case inString:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			n++
		}
	}
	return n
}

func fieldLen(v []string) int {
	n := 0
	for _, s := range v {
		n += len(s)
	}
	return n
}

func (p *ParsedSignature) checkProfile() error {
	items := p.Params.Items
	if len(items) < len(RequiredComponents) {
		return sigErr(SigProfile, "the signature must cover %s", strings.Join(RequiredComponents, " "))
	}
	for i, want := range RequiredComponents {
		if s, ok := items[i].Value.(string); !ok || s != want {
			return sigErr(SigProfile, "the signature must cover %s, in that order", strings.Join(RequiredComponents, " "))
		}
	}
	next := 0 // the declarations follow in order, each at most once
	for _, it := range items[len(RequiredComponents):] {
		s, _ := it.Value.(string)
		for next < len(DeclarationComponents) && DeclarationComponents[next] != s {
			next++
		}
		if next == len(DeclarationComponents) {
			return sigErr(SigProfile, "the signature must cover %s, then those of %s the request carries, in that order",
				strings.Join(RequiredComponents, " "), strings.Join(DeclarationComponents, " "))
		}
		next++
	}
	for _, name := range p.Params.Params.Names() {
		v, _ := p.Params.Params.Get(name)
		switch name {
		case "created":
			n, ok := v.(int64)
			if !ok {
				return sigErr(SigMalformed, "created is not an integer")
			}
			p.Created = time.Unix(n, 0)
		case "nonce":
			s, ok := v.(string)
			if !ok || s == "" || len(s) > maxNonceLen {
				return sigErr(SigMalformed, "nonce must be a string of 1 to %d characters", maxNonceLen)
			}
			p.Nonce = s
		case "keyid":
			s, ok := v.(string)
			if !ok || s == "" || len(s) > maxKeyIDLen {
				return sigErr(SigMalformed, "keyid must be the hex serial of the signing certificate")
			}
			p.KeyID = strings.ToLower(s)
		case "alg":
			if s, ok := v.(string); !ok || s != SignatureAlgorithm {
				return sigErr(SigProfile, "alg must be %q", SignatureAlgorithm)
			}
		default:
			return sigErr(SigProfile, "signature parameter %q is not part of the profile", name)
		}
	}
	switch {
	case p.Created.IsZero():
		return sigErr(SigProfile, "created is required")
	case p.Nonce == "":
		return sigErr(SigProfile, "nonce is required")
	case p.KeyID == "":
		return sigErr(SigProfile, "keyid is required")
	}
	return nil
}

// CheckContentDigest verifies that the Content-Digest field holds the SM3 digest of body.
func CheckContentDigest(field []string, body []byte) error {
	got, err := DeclaredDigest(field)
	if err != nil {
		return err
	}
	want := SM3(body)
	return CheckBodyDigest(got, want[:])
}

// CheckBodyDigest compares, in constant time, the SM3 digest a Content-Digest declared
// with the digest of the body that arrived: a streamed body is digested while it passes and
// checked here at its end.
func CheckBodyDigest(declared, body []byte) error {
	if !EqualMAC(declared, body) {
		return sigErr(SigDigestMismatch, "the body does not match Content-Digest")
	}
	return nil
}

// DeclaredDigest reads the SM3 digest a Content-Digest field declares (its sm3 member).
func DeclaredDigest(field []string) ([]byte, error) {
	if len(field) == 0 {
		return nil, sigErr(SigDigestMismatch, "Content-Digest is required on a signed request")
	}
	if err := single(wire.HeaderContentDigest, field); err != nil {
		return nil, err
	}
	d, err := httpsfv.UnmarshalDictionary(field)
	if err != nil {
		return nil, sigErr(SigMalformed, "Content-Digest is not a structured dictionary: %v", err)
	}
	m, ok := d.Get("sm3")
	if !ok {
		return nil, sigErr(SigDigestMismatch, "Content-Digest has no sm3 member")
	}
	it, ok := m.(httpsfv.Item)
	got, ok2 := it.Value.([]byte)
	if !ok || !ok2 {
		return nil, sigErr(SigMalformed, "Content-Digest sm3 is not a byte sequence")
	}
	return got, nil
}

// RequestVerifier checks request signatures: freshness (at most Skew old, at most
// FutureSkew ahead), the body's digest, and the SM2 signature by the key the caller looks
// up from keyid; Verify also claims the nonce in Nonces.
type RequestVerifier struct {
	// LegacyEmptyDeclarations accepts the profile's earlier form, in which a signature
	// covered x-govgate-agreement and x-govgate-purpose even when the request did not
	// carry them, as the empty value. It is for the transition from old clients: when
	// false, a covered declaration the request does not carry is refused (SigAbsent), as
	// RFC 9421 §2.5 says.
	LegacyEmptyDeclarations bool
	Skew                    time.Duration
	FutureSkew              time.Duration
	Nonces                  *NonceCache
}

// NewRequestVerifier returns a verifier with the given skew (DefaultSkew when zero), the
// default future skew, and a replay cache of at most maxNonces entries.
func NewRequestVerifier(skew time.Duration, maxNonces int) *RequestVerifier {
	if skew <= 0 {
		skew = DefaultSkew
	}
	return &RequestVerifier{Skew: skew, FutureSkew: DefaultFutureSkew, Nonces: NewNonceCache(maxNonces)}
}

// Verify checks the signature of m with body at time now and claims its nonce. key
// returns the public key for a keyid, or an error when the keyid is not the presented
// certificate's.
func (v *RequestVerifier) Verify(m *Message, body []byte, now time.Time, key func(keyID string) (*PublicKey, error)) (*ParsedSignature, error) {
	p, err := v.Check(m, body, now, key)
	if err != nil {
		return nil, err
	}
	// Only a verified signature may claim a nonce, so that forgeries cannot fill the cache.
	if err := v.Nonces.ClaimNonce(context.Background(), v.ClaimOf("", p), now); err != nil {
		return nil, err
	}
	return p, nil
}

// Check verifies the signature of m as Verify does but claims nothing: the gateway claims
// the nonce only once the request is routed and allowed, just before forwarding it, so
// that requests refused earlier do not use up a department's share of the replay cache.
func (v *RequestVerifier) Check(m *Message, body []byte, now time.Time, key func(keyID string) (*PublicKey, error)) (*ParsedSignature, error) {
	return v.check(m, now, key, func(declared []byte) error {
		want := SM3(body)
		return CheckBodyDigest(declared, want[:])
	})
}

// CheckStreamed is Check for a body that has not arrived yet (a streamed upload): the
// signature is verified over the declared Content-Digest, which it covers, and that
// digest is returned for the caller to compare, with CheckBodyDigest, with the SM3 of the
// body once it has passed. Until then nothing proves the body is the one signed.
func (v *RequestVerifier) CheckStreamed(m *Message, now time.Time, key func(keyID string) (*PublicKey, error)) (*ParsedSignature, []byte, error) {
	var declared []byte
	p, err := v.check(m, now, key, func(d []byte) error { declared = d; return nil })
	if err != nil {
		return nil, nil, err
	}
	return p, declared, nil
}

func (v *RequestVerifier) check(m *Message, now time.Time, key func(keyID string) (*PublicKey, error), body func(declared []byte) error) (*ParsedSignature, error) {
	if err := CheckSingleFields(m.Header); err != nil {
		return nil, err
	}
	p, err := ParseSignature(m.Header(wire.FieldSignatureInput), m.Header(wire.FieldSignature))
	if err != nil {
		return nil, err
	}
	if err := v.fresh(p.Created, now); err != nil {
		return nil, err
	}
	declared, err := DeclaredDigest(m.Header(wire.FieldContentDigest))
	if err != nil {
		return nil, err
	}
	if err := body(declared); err != nil {
		return nil, err
	}
	pub, err := key(p.KeyID)
	if err != nil {
		return nil, sigErr(SigUnknownKey, "%v", err)
	}
	signed := m
	for _, d := range DeclarationComponents {
		carried, covered := len(m.Header(d)) > 0, p.Covers(d)
		switch {
		case carried && !covered:
			return nil, sigErr(SigUncovered, "the request carries %s but the signature does not cover it", d)
		case covered && !carried && !v.LegacyEmptyDeclarations:
			return nil, sigErr(SigAbsent, "the signature covers %s but the request does not carry it; cover it only when it is sent", d)
		case covered && !carried && signed == m:
			// The earlier profile: an absent declaration was covered as the empty value.
			legacy := *m
			legacy.Header = func(name string) []string {
				if v := m.Header(name); len(v) > 0 || !slices.Contains(DeclarationComponents, name) {
					return v
				}
				return []string{""}
			}
			signed = &legacy
		}
	}
	base, err := SignatureBase(signed, p.Params)
	if err != nil {
		if se, ok := err.(*SignatureError); ok {
			return nil, se
		}
		return nil, sigErr(SigMalformed, "%v", err)
	}
	ver, err := NewVerifier(pub)
	if err != nil {
		return nil, sigErr(SigUnknownKey, "%v", err)
	}
	if err := ver.Verify([]byte(base), p.Signature); err != nil {
		return nil, sigErr(SigInvalid, "the SM2 signature does not verify over the request")
	}
	p.Base = base
	return p, nil
}

// fresh refuses a created time more than Skew before now or more than FutureSkew after.
func (v *RequestVerifier) fresh(created, now time.Time) error {
	future := v.FutureSkew
	if future <= 0 || future > v.Skew {
		future = min(DefaultFutureSkew, v.Skew)
	}
	at := created.UTC().Format(time.RFC3339)
	if d := now.Sub(created); d > v.Skew {
		return sigErr(SigExpired, "created %s is more than %s before the gateway's clock", at, v.Skew)
	} else if -d > future {
		return sigErr(SigExpired, "created %s is more than %s ahead of the gateway's clock", at, future)
	}
	return nil
}

// ClaimOf is the replay claim of a checked signature for department dept: its nonce is
// remembered until the signature goes stale.
func (v *RequestVerifier) ClaimOf(dept string, p *ParsedSignature) NonceClaim {
	return NonceClaim{Dept: dept, KeyID: p.KeyID, Nonce: p.Nonce, Expiry: p.Created.Add(v.Skew)}
}

// ErrReplayCacheFull is what Claim returns when remembering one more nonce would exceed
// the cache's bound while none has expired: refusing is the only safe answer.
var ErrReplayCacheFull = errors.New("replay cache full")
