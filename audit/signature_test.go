package audit

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/govgate/govgate/crypto"
)

// signedRecord is the record of a signed GET /tax/v1/taxpayers?id=1 declaring agreement and
// purpose (each sent only when not empty), signed now (legacy: in the profile's earlier
// form, all seven components covered and an absent declaration signed as the empty
// value), recording chosen as the agreement it happened under.
func signedRecord(t *testing.T, legacy bool, agreement, purpose, chosen string) *Record {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyID := "1a2b3c"
	body := []byte(nil)
	digest := crypto.ContentDigest(body)
	decl := map[string]string{"x-govgate-agreement": agreement, "x-govgate-purpose": purpose}
	msg := &crypto.Message{Method: "GET", Scheme: "https", Authority: "gw.example:8443", Path: "/tax/v1/taxpayers", Query: "id=1",
		Header: func(name string) []string {
			if name == "content-digest" {
				return []string{digest}
			}
			if v := decl[name]; v != "" || legacy {
				if _, ok := decl[name]; ok {
					return []string{v}
				}
			}
			return nil
		}}
	var input, sig string
	if legacy {
		items := make([]httpsfv.Item, len(crypto.CoveredComponents))
		for i, c := range crypto.CoveredComponents {
			items[i] = httpsfv.NewItem(c)
		}
		params := httpsfv.NewParams()
		params.Add("created", time.Now().Unix())
		params.Add("nonce", "n1")
		params.Add("keyid", keyID)
		params.Add("alg", crypto.SignatureAlgorithm)
		il := httpsfv.InnerList{Items: items, Params: params}
		base, err := crypto.SignatureBase(msg, il)
		if err != nil {
			t.Fatal(err)
		}
		s, err := crypto.NewSigner(key).Sign([]byte(base))
		if err != nil {
			t.Fatal(err)
		}
		d := httpsfv.NewDictionary()
		d.Add(crypto.SignatureLabel, il)
		input, _ = httpsfv.Marshal(d)
		sig = crypto.SignatureLabel + "=:" + base64.StdEncoding.EncodeToString(s) + ":"
	} else {
		sh, err := crypto.SignRequest(crypto.NewSigner(key), keyID, msg, body, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		input, sig = sh.SignatureInput, sh.Signature
	}
	// The base the gateway records is the one a verifier builds from the request.
	v := crypto.NewRequestVerifier(0, 10)
	v.LegacyEmptyDeclarations = legacy
	// The request as sent: a declaration is carried only when not empty.
	signed := *msg
	signed.Header = func(name string) []string {
		switch name {
		case "signature-input":
			return []string{input}
		case "signature":
			return []string{sig}
		case "content-digest":
			return []string{digest}
		}
		if v := decl[name]; v != "" {
			return []string{v}
		}
		return nil
	}
	p, err := v.Check(&signed, body, time.Now(), func(string) (*crypto.PublicKey, error) { return &key.PublicKey, nil })
	if err != nil {
		t.Fatalf("legacy=%v: %v", legacy, err)
	}
	rec := chosenRecord(chosen, purpose, digest)
	rec.Consumer = Consumer{Dept: "110000-rensheju", CertSerial: keyID, PublicKey: PublicKeyHex(&key.PublicKey)}
	rec.Signature = &Signature{Base: p.Base, Input: input, Signature: sig}
	return rec
}

func chosenRecord(agreement, purpose, digest string) *Record {
	return &Record{Method: "GET", Path: "/tax/v1/taxpayers?id=1", Agreement: agreement, Purpose: purpose, ContentDigest: digest}
}

// TestVerifyConsumerSignatureOldAndNewForms: records signed in the profile's earlier form
// (absent declarations covered as empty) and in the current one (covered only when sent)
// both verify; a declaration the record misstates does not.
func TestVerifyConsumerSignatureOldAndNewForms(t *testing.T) {
	for _, legacy := range []bool{true, false} {
		form := map[bool]string{true: "old", false: "new"}[legacy]
		cases := []struct {
			name                       string
			agreement, purpose, chosen string
			recAgreement, recPurpose   string
			ok                         bool
		}{
			{"both declared", "AGR-1", "check", "AGR-1", "AGR-1", "check", true},
			{"none declared, policy chose", "", "", "AGR-1", "AGR-1", "", true},
			{"none declared, none chosen", "", "", "", "", "", true},
			{"purpose only, policy chose", "", "check", "AGR-1", "AGR-1", "check", true},
			{"agreement misstated", "AGR-1", "check", "AGR-1", "AGR-2", "check", false},
			{"purpose misstated", "AGR-1", "check", "AGR-1", "AGR-1", "other", false},
			{"purpose recorded but not declared", "", "", "AGR-1", "AGR-1", "check", false},
			{"purpose declared but not recorded", "AGR-1", "check", "AGR-1", "AGR-1", "", false},
		}
		for _, c := range cases {
			t.Run(form+"/"+c.name, func(t *testing.T) {
				rec := signedRecord(t, legacy, c.agreement, c.purpose, c.chosen)
				hasAgreement := strings.Contains(rec.Signature.Input, `"x-govgate-agreement"`)
				if want := legacy || c.agreement != ""; hasAgreement != want {
					t.Fatalf("Signature-Input %s: covers agreement %v, want %v", rec.Signature.Input, hasAgreement, want)
				}
				rec.Agreement, rec.Purpose = c.recAgreement, c.recPurpose
				err := VerifyConsumerSignature(rec)
				if (err == nil) != c.ok {
					t.Fatalf("verify: %v, want ok=%v\nbase:\n%s", err, c.ok, rec.Signature.Base)
				}
			})
		}
	}
}

// TestCheckBaseComponentsAreTheInputs: the recorded base must list exactly the components
// the Signature-Input covers, so that a line missing from the base means "not covered".
func TestCheckBaseComponentsAreTheInputs(t *testing.T) {
	rec := signedRecord(t, false, "AGR-1", "check", "AGR-1")
	base := rec.Signature.Base
	// Drop the purpose line: the base no longer matches the Input (and the signature).
	var kept []string
	for _, l := range strings.Split(base, "\n") {
		if !strings.HasPrefix(l, `"x-govgate-purpose"`) {
			kept = append(kept, l)
		}
	}
	rec.Purpose = ""
	p, err := crypto.ParseSignature([]string{rec.Signature.Input}, []string{rec.Signature.Signature})
	if err != nil {
		t.Fatal(err)
	}
	s := *rec.Signature
	s.Base = strings.Join(kept, "\n")
	if err := checkBase(rec, &s, p); err == nil || !strings.Contains(fmt.Sprint(err), "components") {
		t.Fatalf("a base missing a covered component: %v", err)
	}
}
