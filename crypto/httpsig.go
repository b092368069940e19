package crypto

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
)

// The request signature profile of DESIGN.md: RFC 9421 with algorithm sm2-sm3, one
// signature labelled "govgate" covering these components in this order.
const (
	SignatureLabel     = "govgate"
	SignatureAlgorithm = "sm2-sm3"
	DefaultSkew        = 300 * time.Second
)

// CoveredComponents are what a govgate request signature covers, in order. An absent
// x-govgate-agreement or x-govgate-purpose field is covered as the empty value, so that a
// request for basic information (no agreement) signs the same way as any other.
var CoveredComponents = []string{"@method", "@authority", "@path", "@query", "content-digest", "x-govgate-agreement", "x-govgate-purpose"}

// Message is a request as a signature sees it. Header returns every value of a field,
// named in lower case; the gateway and the client each adapt their own request type.
type Message struct {
	Method    string
	Scheme    string // "https" or "http", for @scheme and @target-uri
	Authority string // host, and port when not the default
	Path      string // the raw path of the target, as sent
	Query     string // the raw query without '?', "" when absent
	Header    func(name string) []string
}

// SignatureHeaders are the three fields a signed request carries.
type SignatureHeaders struct {
	ContentDigest  string
	SignatureInput string
	Signature      string
}

// ContentDigest returns the Content-Digest value for body: sm3=:<base64>:.
func ContentDigest(body []byte) string {
	d := SM3(body)
	return "sm3=:" + base64.StdEncoding.EncodeToString(d[:]) + ":"
}

// SignRequest signs m as the profile says. The Content-Digest it returns is the one the
// signature covers: m.Header must not already report a different one.
func SignRequest(s *Signer, keyID string, m *Message, body []byte, now time.Time) (SignatureHeaders, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return SignatureHeaders{}, fmt.Errorf("sign request: nonce: %w", err)
	}
	digest := ContentDigest(body)
	withDigest := *m
	withDigest.Header = func(name string) []string {
		if name == "content-digest" {
			return []string{digest}
		}
		return m.Header(name)
	}
	items := make([]httpsfv.Item, len(CoveredComponents))
	for i, c := range CoveredComponents {
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

// SignatureBase builds the signature base of RFC 9421 §2.5 for the covered components and
// parameters in sigParams. Derived components @method, @authority, @path, @query,
// @scheme, @target-uri and @request-target are supported; component parameters are not.
func SignatureBase(m *Message, sigParams httpsfv.InnerList) (string, error) {
	var b strings.Builder
	seen := map[string]bool{}
	for _, item := range sigParams.Items {
		name, ok := item.Value.(string)
		if !ok {
			return "", fmt.Errorf("covered component %v is not a string", item.Value)
		}
		if item.Params != nil && len(item.Params.Names()) > 0 {
			return "", fmt.Errorf("covered component %q: component parameters are not supported", name)
		}
		if seen[name] {
			return "", fmt.Errorf("covered component %q is listed twice", name)
		}
		seen[name] = true
		value, err := componentValue(m, name)
		if err != nil {
			return "", err
		}
		b.WriteString(strconv.Quote(name))
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteByte('\n')
	}
	params, err := httpsfv.Marshal(httpsfv.List{sigParams})
	if err != nil {
		return "", fmt.Errorf("signature parameters: %w", err)
	}
	b.WriteString(`"@signature-params": `)
	b.WriteString(params)
	return b.String(), nil
}

func componentValue(m *Message, name string) (string, error) {
	switch name {
	case "@method":
		return m.Method, nil
	case "@authority":
		return strings.ToLower(m.Authority), nil
	case "@scheme":
		return strings.ToLower(m.Scheme), nil
	case "@path":
		if m.Path == "" {
			return "/", nil
		}
		return m.Path, nil
	case "@query":
		return "?" + m.Query, nil
	case "@request-target":
		if m.Query == "" {
			return m.Path, nil
		}
		return m.Path + "?" + m.Query, nil
	case "@target-uri":
		v := strings.ToLower(m.Scheme) + "://" + strings.ToLower(m.Authority) + m.Path
		if m.Query != "" {
			v += "?" + m.Query
		}
		return v, nil
	}
	if strings.HasPrefix(name, "@") {
		return "", fmt.Errorf("derived component %q is not supported", name)
	}
	if name != strings.ToLower(name) {
		return "", fmt.Errorf("covered field %q is not in lower case", name)
	}
	values := m.Header(name)
	if len(values) == 0 {
		if name == "x-govgate-agreement" || name == "x-govgate-purpose" {
			return "", nil
		}
		return "", fmt.Errorf("covered field %q is absent", name)
	}
	for i, v := range values {
		values[i] = strings.TrimSpace(v)
	}
	return strings.Join(values, ", "), nil
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
// values and checks that it follows the profile: the covered components exactly, the
// algorithm sm2-sm3, and created, nonce and keyid present.
func ParseSignature(input, signature []string) (*ParsedSignature, error) {
	if len(input) == 0 && len(signature) == 0 {
		return nil, sigErr(SigMissing, "the request carries no Signature-Input and Signature")
	}
	if fieldLen(input) > maxSigHeader || fieldLen(signature) > maxSigHeader {
		return nil, sigErr(SigMalformed, "signature fields exceed %d bytes", maxSigHeader)
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

func fieldLen(v []string) int {
	n := 0
	for _, s := range v {
		n += len(s)
	}
	return n
}

func (p *ParsedSignature) checkProfile() error {
	if len(p.Params.Items) != len(CoveredComponents) {
		return sigErr(SigProfile, "the signature must cover %s", strings.Join(CoveredComponents, " "))
	}
	for i, it := range p.Params.Items {
		if s, ok := it.Value.(string); !ok || s != CoveredComponents[i] {
			return sigErr(SigProfile, "the signature must cover %s, in that order", strings.Join(CoveredComponents, " "))
		}
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
	if len(field) == 0 {
		return sigErr(SigDigestMismatch, "Content-Digest is required on a signed request")
	}
	d, err := httpsfv.UnmarshalDictionary(field)
	if err != nil {
		return sigErr(SigMalformed, "Content-Digest is not a structured dictionary: %v", err)
	}
	m, ok := d.Get("sm3")
	if !ok {
		return sigErr(SigDigestMismatch, "Content-Digest has no sm3 member")
	}
	it, ok := m.(httpsfv.Item)
	got, ok2 := it.Value.([]byte)
	if !ok || !ok2 {
		return sigErr(SigMalformed, "Content-Digest sm3 is not a byte sequence")
	}
	want := SM3(body)
	if !EqualMAC(got, want[:]) {
		return sigErr(SigDigestMismatch, "the body does not match Content-Digest")
	}
	return nil
}

// RequestVerifier checks request signatures: freshness within Skew, one use of each nonce,
// the body's digest, and the SM2 signature by the key the caller looks up from keyid.
type RequestVerifier struct {
	Skew   time.Duration
	Nonces *NonceCache
}

// NewRequestVerifier returns a verifier with the given skew (DefaultSkew when zero) and a
// replay cache of at most maxNonces entries.
func NewRequestVerifier(skew time.Duration, maxNonces int) *RequestVerifier {
	if skew <= 0 {
		skew = DefaultSkew
	}
	return &RequestVerifier{Skew: skew, Nonces: NewNonceCache(maxNonces)}
}

// Verify checks the signature of m with body at time now. key returns the public key for
// a keyid, or an error when the keyid is not the presented certificate's.
func (v *RequestVerifier) Verify(m *Message, body []byte, now time.Time, key func(keyID string) (*PublicKey, error)) (*ParsedSignature, error) {
	p, err := ParseSignature(m.Header("signature-input"), m.Header("signature"))
	if err != nil {
		return nil, err
	}
	if d := now.Sub(p.Created); d > v.Skew || d < -v.Skew {
		return nil, sigErr(SigExpired, "created %s is more than %s from the gateway's clock", p.Created.UTC().Format(time.RFC3339), v.Skew)
	}
	if err := CheckContentDigest(m.Header("content-digest"), body); err != nil {
		return nil, err
	}
	pub, err := key(p.KeyID)
	if err != nil {
		return nil, sigErr(SigUnknownKey, "%v", err)
	}
	base, err := SignatureBase(m, p.Params)
	if err != nil {
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
	// Only a verified signature may claim a nonce, so that forgeries cannot fill the cache.
	if err := v.Nonces.Claim(p.KeyID, p.Nonce, p.Created.Add(v.Skew), now); err != nil {
		return nil, err
	}
	return p, nil
}

// ErrReplayCacheFull is what Claim returns when remembering one more nonce would exceed
// the cache's bound while none has expired: refusing is the only safe answer.
var ErrReplayCacheFull = errors.New("replay cache full")
