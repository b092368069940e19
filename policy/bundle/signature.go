package bundle

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/govgate/govgate/crypto"
)

// The signature file's format, algorithms and limits. The file is JSON:
//
//	{
//	  "format": "govgate-bundle-signature/v1",
//	  "digest_algorithm": "SM3",
//	  "digest": "<hex SM3 of the bundle file's bytes>",
//	  "signature_algorithm": "SM2-SM3",
//	  "signature": "<base64 ASN.1 DER SM2 signature, user ID 1234567812345678>",
//	  "signed_at": "<RFC 3339 UTC, with nanoseconds>",
//	  "certificates": ["<base64 DER signer certificate>", "<base64 DER intermediate>", ...]
//	}
//
// The signed message is SignedMessage(digest, signed_at): the format name, a NUL, the 32
// digest bytes, a NUL, signed_at as written.
const (
	SignatureFormat    = "govgate-bundle-signature/v1"
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
)

// Signature is a parsed signature file.
type Signature struct {
	Format             string   `json:"format"`
	DigestAlgorithm    string   `json:"digest_algorithm"`
	Digest             string   `json:"digest"`
	SignatureAlgorithm string   `json:"signature_algorithm"`
	Signature          []byte   `json:"signature"`
	SignedAt           string   `json:"signed_at"`
	Certificates       [][]byte `json:"certificates"`
	signedAt           time.Time
	digest             []byte
}

// SignedMessage is what the SM2 signature covers.
func SignedMessage(digest []byte, signedAt string) []byte {
	m := make([]byte, 0, len(SignatureFormat)+len(digest)+len(signedAt)+2)
	m = append(m, SignatureFormat...)
	m = append(m, 0)
	m = append(m, digest...)
	m = append(m, 0)
	return append(m, signedAt...)
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
	if s.signedAt, err = time.Parse(time.RFC3339, s.SignedAt); err != nil {
		return nil, fmt.Errorf("bundle signature: signed_at: %w", err)
	}
	return &s, nil
}

// Sign makes the signature file for bundle with the signer's key; chain is the signer's
// certificate first, then any intermediates (not the root, which verifiers already hold).
func Sign(bundle []byte, key *crypto.PrivateKey, chain []*crypto.Certificate, now time.Time) ([]byte, error) {
	if len(chain) == 0 {
		return nil, errors.New("sign bundle: no signer certificate")
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
	}
	sig, err := crypto.NewSigner(key).Sign(SignedMessage(sum[:], s.SignedAt))
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
