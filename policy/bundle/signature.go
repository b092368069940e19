package bundle

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/govgate/govgate/crypto"
)

// The signature file's format, algorithms and limits. The file is JSON:
//
//	{
//	  "format": "govgate-bundle-signature/v2",
//	  "digest_algorithm": "SM3",
//	  "digest": "<hex SM3 of the bundle file's bytes>",
//	  "signature_algorithm": "SM2-SM3",
//	  "signature": "<base64 ASN.1 DER SM2 signature, user ID 1234567812345678>",
//	  "signed_at": "<RFC 3339 UTC, with nanoseconds>",
//	  "audience": "<the fleet the bundle is for: policy.bundle.audience>",
//	  "certificates": ["<base64 DER signer certificate>", "<base64 DER intermediate>", ...]
//	}
//
// The signed message is SignedMessage(digest, signed_at, audience): the format name, a
// NUL, the 32 digest bytes, a NUL, signed_at as written, a NUL, the audience. Format v1
// (no audience) is refused: its signature is valid for every fleet that trusts the same
// officers' CA, so a bundle server could swap one fleet's bundle into another.
const (
	SignatureFormat = "govgate-bundle-signature/v2"
	// SignatureFormatV1 is the format before the audience; named only to refuse it clearly.
	SignatureFormatV1  = "govgate-bundle-signature/v1"
	DigestAlgorithm    = "SM3"
	SignatureAlgorithm = "SM2-SM3"
	// SignatureSuffix is appended to a bundle's file name (and URL) to name its signature.
	SignatureSuffix = ".sig"
	// MaxSignatureSize bounds a signature file: a few certificates and a signature.
	MaxSignatureSize = 64 << 10
	// maxChain bounds the certificates a signature file may carry.
	maxChain = 8
	// MaxClockSkew is how far ahead of the verifier's clock signed_at may be: a signer's
	// clock a little fast is tolerated; a signature from the future is not, since signed_at
	// is the floor below which a poller refuses older bundles.
	MaxClockSkew = 5 * time.Minute
	// MaxAudience bounds an audience's length.
	MaxAudience = 128
)

// CheckAudience accepts an audience (a fleet or gateway group name: policy.bundle.audience,
// `policy sign --audience`): 1 to MaxAudience letters, digits and . _ - : /, so that it
// reads the same in a log line, a YAML file and a shell.
func CheckAudience(a string) error {
	if a == "" {
		return errors.New("audience: empty; name the fleet the bundle is for")
	}
	if len(a) > MaxAudience {
		return fmt.Errorf("audience: %d bytes, at most %d", len(a), MaxAudience)
	}
	for _, c := range []byte(a) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-:/", c) >= 0
		if !ok {
			return fmt.Errorf("audience %q: only letters, digits and . _ - : / are allowed", a)
		}
	}
	return nil
}

// Signature is a parsed signature file.
type Signature struct {
	Format             string   `json:"format"`
	DigestAlgorithm    string   `json:"digest_algorithm"`
	Digest             string   `json:"digest"`
	SignatureAlgorithm string   `json:"signature_algorithm"`
	Signature          []byte   `json:"signature"`
	SignedAt           string   `json:"signed_at"`
	Certificates       [][]byte `json:"certificates"`
	Audience           string   `json:"audience"`
	signedAt           time.Time
	digest             []byte
}

// SignedMessage is what the SM2 signature covers. The audience is last and checked by
// CheckAudience (no NUL), so no two (signed_at, audience) pairs give one message.
func SignedMessage(digest []byte, signedAt, audience string) []byte {
	m := make([]byte, 0, len(SignatureFormat)+len(digest)+len(signedAt)+len(audience)+3)
	m = append(m, SignatureFormat...)
	m = append(m, 0)
	m = append(m, digest...)
	m = append(m, 0)
	m = append(m, signedAt...)
	m = append(m, 0)
	return append(m, audience...)
}

// ParseSignature decodes and checks the shape of a signature file: known format and
// algorithms, a 32-byte digest, a signature, one to maxChain certificates, a time. It does
// not verify anything; see Verifier.
func ParseSignature(data []byte) (*Signature, error) {
	if len(data) > MaxSignatureSize {
		return nil, fmt.Errorf("bundle signature: %d bytes, more than %d", len(data), MaxSignatureSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Signature
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("bundle signature: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("bundle signature: data after the JSON object")
	}
	switch {
	case s.Format == SignatureFormatV1:
		return nil, fmt.Errorf("bundle signature: format %q names no audience (valid for any fleet); re-sign the bundle with govgate policy sign --audience FLEET", s.Format)
	case s.Format != SignatureFormat:
		return nil, fmt.Errorf("bundle signature: format %q, want %q", s.Format, SignatureFormat)
	case s.DigestAlgorithm != DigestAlgorithm:
		return nil, fmt.Errorf("bundle signature: digest algorithm %q, want %q", s.DigestAlgorithm, DigestAlgorithm)
	case s.SignatureAlgorithm != SignatureAlgorithm:
		return nil, fmt.Errorf("bundle signature: signature algorithm %q, want %q", s.SignatureAlgorithm, SignatureAlgorithm)
	case len(s.Signature) == 0:
		return nil, errors.New("bundle signature: no signature")
	case len(s.Certificates) == 0:
		return nil, errors.New("bundle signature: no signer certificate")
	case len(s.Certificates) > maxChain:
		return nil, fmt.Errorf("bundle signature: %d certificates, at most %d", len(s.Certificates), maxChain)
	}
	d, err := hex.DecodeString(s.Digest)
	if err != nil || len(d) != crypto.DigestSize {
		return nil, fmt.Errorf("bundle signature: digest is not %d bytes of hex", crypto.DigestSize)
	}
	s.digest = d
	if err := CheckAudience(s.Audience); err != nil {
		return nil, fmt.Errorf("bundle signature: %w", err)
	}
	if s.signedAt, err = time.Parse(time.RFC3339, s.SignedAt); err != nil {
		return nil, fmt.Errorf("bundle signature: signed_at: %w", err)
	}
	return &s, nil
}

// Sign makes the signature file for bundle with the signer's key, for the fleet named
// audience; chain is the signer's certificate first, then any intermediates (not the root,
// which verifiers already hold).
func Sign(bundle []byte, key *crypto.PrivateKey, chain []*crypto.Certificate, audience string, now time.Time) ([]byte, error) {
	if len(chain) == 0 {
		return nil, errors.New("sign bundle: no signer certificate")
	}
	if err := CheckAudience(audience); err != nil {
		return nil, fmt.Errorf("sign bundle: %w", err)
	}
	if pub, ok := chain[0].PublicKey.(*crypto.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("sign bundle: the key is not the certificate's")
	}
	sum := crypto.SM3(bundle)
	s := Signature{
		Format:             SignatureFormat,
		DigestAlgorithm:    DigestAlgorithm,
		Digest:             hex.EncodeToString(sum[:]),
		SignatureAlgorithm: SignatureAlgorithm,
		// Nanoseconds: signed_at orders bundles (rollback), and two signed within one
		// second must not compare equal.
		SignedAt: now.UTC().Format(time.RFC3339Nano),
		Audience: audience,
	}
	sig, err := crypto.NewSigner(key).Sign(SignedMessage(sum[:], s.SignedAt, s.Audience))
	if err != nil {
		return nil, fmt.Errorf("sign bundle: %w", err)
	}
	s.Signature = sig
	for _, c := range chain {
		s.Certificates = append(s.Certificates, c.Raw)
	}
	out, err := json.MarshalIndent(&s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("sign bundle: %w", err)
	}
	return append(out, '\n'), nil
}
