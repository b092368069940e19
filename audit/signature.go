package audit

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emmansun/gmsm/sm2"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/wire"
)

// PublicKeyHex encodes a consumer's SM2 public key for a record.
func PublicKeyHex(pub *crypto.PublicKey) string { return hex.EncodeToString(pointBytes(pub)) }

// VerifyConsumerSignature checks a signed record offline: the SM2 signature verifies over
// the recorded signature base with the recorded key, the key is the certificate's named by
// keyid, and the base says what the record says — method, path and query, body digest,
// agreement and purpose — so a consumer's signature proves what it asked for.
func VerifyConsumerSignature(r *Record) error {
	s := r.Signature
	if s == nil {
		return nil
	}
	p, err := crypto.ParseSignature([]string{s.Input}, []string{s.Signature})
	if err != nil {
		return fmt.Errorf("signature fields: %w", err)
	}
	if p.KeyID != r.Consumer.CertSerial {
		return fmt.Errorf("keyid %q is not the consumer's certificate serial %q", p.KeyID, r.Consumer.CertSerial)
	}
	point, err := hex.DecodeString(r.Consumer.PublicKey)
	if err != nil {
		return errors.New("consumer public key is not hex")
	}
	pub, err := sm2.NewPublicKey(point)
	if err != nil {
		return fmt.Errorf("consumer public key: %w", err)
	}
	v, err := crypto.NewVerifier(pub)
	if err != nil {
		return err
	}
	if err := v.Verify([]byte(s.Base), p.Signature); err != nil {
		return errors.New("the consumer's SM2 signature does not verify over the recorded signature base")
	}
	return checkBase(r, s, p)
}

// checkBase recomputes the signature base from the record and the Signature-Input, with
// the function the gateway verified with, and compares it with the recorded base byte for
// byte, so that the signature proves what the record says was asked.
func checkBase(r *Record, s *Signature, p *crypto.ParsedSignature) error {
	if !p.Covers(wire.FieldPurpose) && r.Purpose != "" {
		// A purpose nothing chooses: recorded, it must have been declared and signed.
		return fmt.Errorf("the signed %s is absent, the record says %q", wire.FieldPurpose, r.Purpose)
	}
	want, err := wire.SignatureBase(recordedMessage(r, s.Base), p.Params)
	if err != nil {
		return fmt.Errorf("the signature base of the record: %w", err)
	}
	return sameBase(s.Base, want)
}

// recordedMessage is the request as the record states it. Two values come from the
// recorded base instead, and so are compared with nothing: the authority, which the
// record does not keep, and a covered agreement signed as the empty value (the profile's
// earlier form, for a request that declared none), where the record's agreement is the
// one the policy chose.
func recordedMessage(r *Record, base string) *wire.Message {
	authority, _ := baseValue(base, "@authority")
	agreement := r.Agreement
	if v, ok := baseValue(base, wire.FieldAgreement); ok && v == "" {
		agreement = ""
	}
	return wire.RequestMessage(r.Method, authority, r.Path, func(name string) []string {
		switch name {
		case wire.FieldContentDigest:
			return []string{r.ContentDigest}
		case wire.FieldAgreement:
			return []string{agreement}
		case wire.FieldPurpose:
			return []string{r.Purpose}
		}
		return nil
	})
}

// baseValue is the value of component name in a signature base.
func baseValue(base, name string) (string, bool) {
	prefix := strconv.Quote(name) + ": "
	for line := range strings.SplitSeq(base, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return v, true
		}
	}
	return "", false
}

// sameBase says where the recorded base departs from the recomputed one: its components
// (which the Signature-Input lists), its parameters, or one component's value.
func sameBase(recorded, want string) error {
	if recorded == want {
		return nil
	}
	got, exp := strings.Split(recorded, "\n"), strings.Split(want, "\n")
	if len(got) != len(exp) {
		return errors.New("the signature base's components are not the Signature-Input's")
	}
	for i := range exp {
		if got[i] == exp[i] {
			continue
		}
		gname, gv, _ := strings.Cut(got[i], ": ")
		ename, ev, _ := strings.Cut(exp[i], ": ")
		switch {
		case gname != ename:
			return errors.New("the signature base's components are not the Signature-Input's")
		case i == len(exp)-1:
			return errors.New("the signature base's parameters are not the Signature-Input's")
		default:
			name, _ := strconv.Unquote(ename)
			return fmt.Errorf("the signed %s is %q, the record says %q", name, gv, ev)
		}
	}
	return errors.New("the signature base is not the record's")
}
