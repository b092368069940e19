package audit

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emmansun/gmsm/sm2"

	"github.com/govgate/govgate/crypto"
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
	return checkBase(r, s)
}

// checkBase compares the signed components with the record.
func checkBase(r *Record, s *Signature) error {
	lines := map[string]string{}
	for _, line := range strings.Split(s.Base, "\n") {
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			return fmt.Errorf("signature base line %q", line)
		}
		unq, err := strconv.Unquote(name)
		if err != nil {
			return fmt.Errorf("signature base line %q", line)
		}
		lines[unq] = value
	}
	path, query, _ := strings.Cut(r.Path, "?")
	want := map[string]string{
		"@method": r.Method, "@path": path, "@query": "?" + query, "content-digest": r.ContentDigest,
		"x-govgate-agreement": r.Agreement, "x-govgate-purpose": r.Purpose,
	}
	for name, v := range want {
		got, ok := lines[name]
		if name == "x-govgate-agreement" && ok && got == "" {
			// The consumer declared no agreement and the policy chose the one the record
			// names; the signature proves only that none was declared.
			continue
		}
		if !ok || got != v {
			return fmt.Errorf("the signed %s is %q, the record says %q", name, got, v)
		}
	}
	_, params, _ := strings.Cut(s.Input, "=")
	if lines["@signature-params"] != params {
		return errors.New("the signature base's parameters are not the Signature-Input's")
	}
	return nil
}
