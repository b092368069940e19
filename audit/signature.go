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
	return checkBase(r, s, p)
}

// checkBase compares the signed components with the record.
func checkBase(r *Record, s *Signature, p *crypto.ParsedSignature) error {
	lines := map[string]string{}
	var names []string
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
		names = append(names, unq)
	}
	// The base's lines are the covered components, in order, then the parameters: a
	// component missing from the base is one the signature does not cover.
	if len(names) != len(p.Params.Items)+1 {
		return errors.New("the signature base's components are not the Signature-Input's")
	}
	for i, it := range p.Params.Items {
		if c, _ := it.Value.(string); names[i] != c {
			return errors.New("the signature base's components are not the Signature-Input's")
		}
	}
	path, query, _ := strings.Cut(r.Path, "?")
	required := map[string]string{
		"@method": r.Method, "@path": path, "@query": "?" + query, "content-digest": r.ContentDigest,
	}
	for _, name := range crypto.RequiredComponents {
		v, ok := required[name]
		if !ok {
			continue // @authority: the record keeps no authority to compare
		}
		if got, ok := lines[name]; !ok || got != v {
			return fmt.Errorf("the signed %s is %q, the record says %q", name, got, v)
		}
	}
	// A declaration is absent from the base when the consumer did not send it (the
	// profile now), or signed as the empty value (the profile before): either way none was
	// declared. The agreement may then be the one the policy chose; the purpose, which
	// nothing chooses, must be empty.
	if got, ok := lines["x-govgate-agreement"]; ok && got != "" && got != r.Agreement {
		return fmt.Errorf("the signed x-govgate-agreement is %q, the record says %q", got, r.Agreement)
	}
	if got := lines["x-govgate-purpose"]; got != r.Purpose {
		return fmt.Errorf("the signed x-govgate-purpose is %q, the record says %q", got, r.Purpose)
	}
	_, params, _ := strings.Cut(s.Input, "=")
	if lines["@signature-params"] != params {
		return errors.New("the signature base's parameters are not the Signature-Input's")
	}
	return nil
}
