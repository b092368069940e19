package crypto

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/pkcs"
	"github.com/emmansun/gmsm/pkcs7"
)

// KeyTransport selects the keyEncryptionAlgorithm identifier Seal writes in each
// RecipientInfo of an envelope. The key is SM2-encrypted (GM/T 0003.4, GM/T 0009 ciphertext)
// either way; only the identifier differs.
type KeyTransport int

const (
	// KeyTransportSM2Encrypt, the default, writes 1.2.156.10197.1.301.3 with a NULL
	// parameter. GM/T 0006 (GB/T 33560) registers .301.3 as "SM2-3 public key encryption"
	// (.301.1 is SM2-1 signature, .301.2 SM2-2 key exchange), and it is what gmsm and the
	// peers built on it write and read.
	KeyTransportSM2Encrypt KeyTransport = iota
	// KeyTransportGmSSL writes 1.2.156.10197.1.301.2 without parameters: what GmSSL 3's
	// cms.c writes for "sm2encrypt", and the only form its cmsdecrypt opens.
	KeyTransportGmSSL
)

// String names the form as the documentation does.
func (k KeyTransport) String() string {
	switch k {
	case KeyTransportSM2Encrypt:
		return "sm2-3"
	case KeyTransportGmSSL:
		return "gmssl"
	}
	return fmt.Sprintf("KeyTransport(%d)", int(k))
}

var (
	// OIDKeyTransportSM2Encrypt is GM/T 0006 sm2-3, SM2 public key encryption.
	OIDKeyTransportSM2Encrypt = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 301, 3}
	// OIDKeyTransportGmSSL is GM/T 0006 sm2-2 (key exchange), which GmSSL uses for SM2
	// encryption in CMS.
	OIDKeyTransportGmSSL = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 301, 2}
)

// SealOptions configures Seal. The zero value is the standard form.
type SealOptions struct {
	// KeyTransport is the keyEncryptionAlgorithm identifier written for every recipient;
	// default KeyTransportSM2Encrypt. Use KeyTransportGmSSL for recipients that open
	// envelopes with GmSSL.
	KeyTransport KeyTransport
}

// Seal encrypts content to the recipients' SM2 encryption certificates as GM/T 0010
// EnvelopedData (PKCS#7 with the SM OIDs): a fresh SM4 key encrypts the content in CBC mode
// (what GM/T 0010 peers read), and SM2 encrypts that key to each recipient. The result is
// DER, with the default SealOptions (keyEncryptionAlgorithm 1.2.156.10197.1.301.3, NULL).
func Seal(content []byte, recipients ...*Certificate) ([]byte, error) {
	return SealWith(SealOptions{}, content, recipients...)
}

// SealWith is Seal with the keyEncryptionAlgorithm identifier chosen by opts.
func SealWith(opts SealOptions, content []byte, recipients ...*Certificate) ([]byte, error) {
	var alg algorithmIdentifier
	switch opts.KeyTransport {
	case KeyTransportSM2Encrypt:
		alg = algorithmIdentifier{Algorithm: OIDKeyTransportSM2Encrypt, Parameters: asn1.NullRawValue}
	case KeyTransportGmSSL:
		alg = algorithmIdentifier{Algorithm: OIDKeyTransportGmSSL}
	default:
		return nil, fmt.Errorf("envelope: unknown key transport %v", opts.KeyTransport)
	}
	if len(recipients) == 0 {
		return nil, errors.New("envelope: no recipient")
	}
	for _, r := range recipients {
		if _, err := SM2PublicKey(r); err != nil {
			return nil, fmt.Errorf("envelope: %w", err)
		}
	}
	der, err := pkcs7.EncryptSM(pkcs.SM4CBC, content, recipients)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	// gmsm writes .301.3 with NULL, and the RSA OID for a recipient whose certificate is not
	// signed with SM2-SM3; every recipient here has an SM2 key, so each gets alg.
	der, err = rewriteKeyTransport(der, func(*algorithmIdentifier) (algorithmIdentifier, error) { return alg, nil })
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return der, nil
}

// Open decrypts EnvelopedData addressed to cert with its private key. It reads both SM2
// key-transport identifiers, 1.2.156.10197.1.301.3 (GM/T 0006 sm2-3) and
// 1.2.156.10197.1.301.2 (GmSSL), each with the parameter absent or NULL; an envelope none of
// whose recipients uses one of them, or one with other parameters, is refused.
func Open(der []byte, cert *Certificate, key *PrivateKey) ([]byte, error) {
	if err := checkKeyTransport(der); err != nil {
		return nil, fmt.Errorf("open envelope: %w", err)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("open envelope: %w", err)
	}
	pt, err := p7.Decrypt(cert, key)
	if err != nil {
		return nil, fmt.Errorf("open envelope: %w", err)
	}
	return pt, nil
}

var errKeyTransport = errors.New("key transport")

// checkKeyTransport enforces Open's rule on the keyEncryptionAlgorithm identifiers. Input the
// DER walk cannot read (a BER envelope from another tool) is left to pkcs7.Parse, which
// converts BER and, like GmSSL, decrypts by the key type rather than by the identifier.
func checkKeyTransport(der []byte) error {
	sm2 := 0
	_, err := rewriteKeyTransport(der, func(a *algorithmIdentifier) (algorithmIdentifier, error) {
		if !isSM2KeyTransport(a.Algorithm) {
			return *a, nil // another recipient's algorithm: not ours to judge
		}
		if len(a.Parameters.FullBytes) != 0 && !bytes.Equal(a.Parameters.FullBytes, asn1.NullBytes) {
			return *a, fmt.Errorf("%w %v: parameters must be absent or NULL", errKeyTransport, a.Algorithm)
		}
		sm2++
		return *a, nil
	})
	switch {
	case errors.Is(err, errKeyTransport):
		return err
	case err != nil:
		return nil
	case sm2 == 0:
		return errors.New("no recipient uses SM2 key transport (1.2.156.10197.1.301.3 or .301.2)")
	}
	return nil
}

func isSM2KeyTransport(oid asn1.ObjectIdentifier) bool {
	return oid.Equal(OIDKeyTransportSM2Encrypt) || oid.Equal(OIDKeyTransportGmSSL)
}

// The structures below walk down to RecipientInfo.keyEncryptionAlgorithm and keep every other
// element as its original bytes, so a rewrite changes that field only.

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue // [0] EXPLICIT, unwrapped by hand
}

type envelopedData struct {
	Version              int
	RecipientInfos       []recipientInfo `asn1:"set"`
	EncryptedContentInfo asn1.RawValue
	UnprotectedAttrs     asn1.RawValue `asn1:"optional,tag:1"`
}

type recipientInfo struct {
	Version                int
	RID                    asn1.RawValue // IssuerAndSerialNumber or [0] SubjectKeyIdentifier
	KeyEncryptionAlgorithm algorithmIdentifier
	EncryptedKey           asn1.RawValue
}

type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

// rewriteKeyTransport calls f on each RecipientInfo's keyEncryptionAlgorithm and returns the
// envelope re-encoded with f's results. It accepts the GM/T 0010 and the PKCS#7 content type.
func rewriteKeyTransport(der []byte, f func(*algorithmIdentifier) (algorithmIdentifier, error)) ([]byte, error) {
	var ci contentInfo
	rest, err := asn1.Unmarshal(der, &ci)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errors.New("trailing data after ContentInfo")
	}
	if !ci.ContentType.Equal(pkcs7.SM2OIDEnvelopedData) && !ci.ContentType.Equal(pkcs7.OIDEnvelopedData) {
		return nil, fmt.Errorf("content type %v is not EnvelopedData", ci.ContentType)
	}
	if ci.Content.Class != asn1.ClassContextSpecific || ci.Content.Tag != 0 || !ci.Content.IsCompound {
		return nil, errors.New("ContentInfo content is not [0] EXPLICIT")
	}
	var ed envelopedData
	if rest, err = asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errors.New("trailing data after EnvelopedData")
	}
	for i := range ed.RecipientInfos {
		a, err := f(&ed.RecipientInfos[i].KeyEncryptionAlgorithm)
		if err != nil {
			return nil, err
		}
		ed.RecipientInfos[i].KeyEncryptionAlgorithm = a
	}
	inner, err := asn1.Marshal(ed)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(contentInfo{ContentType: ci.ContentType, Content: asn1.RawValue{
		Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner,
	}})
}
