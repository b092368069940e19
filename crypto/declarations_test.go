package crypto

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"
)

const declKeyID = "1a2b3c4d5e6f7081"

// declRequest is a request carrying the declarations in decl (lower-case name to value),
// signed by SignRequest.
func declRequest(t *testing.T, s *Signer, now time.Time, decl map[string]string) *signedRequest {
	t.Helper()
	r := &signedRequest{h: http.Header{}, body: []byte(`{"id_numbers":["110101199003077777"]}`)}
	for k, v := range decl {
		r.h[http.CanonicalHeaderKey(k)] = []string{v}
	}
	r.msg = Message{Method: "POST", Scheme: "https", Authority: "gw.example.gov.cn:8443", Path: "/population/v1/persons:batch", Query: "fields=name", Header: headerFunc(r.h)}
	sh, err := SignRequest(s, declKeyID, &r.msg, r.body, now)
	if err != nil {
		t.Fatal(err)
	}
	r.h.Set("Content-Digest", sh.ContentDigest)
	r.h.Set("Signature-Input", sh.SignatureInput)
	r.h.Set("Signature", sh.Signature)
	return r
}

// legacyRequest is a request signed with the profile's earlier form: all seven components
// covered, an absent declaration signed as the empty value.
func legacyRequest(t *testing.T, s *Signer, now time.Time, decl map[string]string) *signedRequest {
	t.Helper()
	r := &signedRequest{h: http.Header{}, body: []byte(`{"id_numbers":["110101199003077777"]}`)}
	for k, v := range decl {
		r.h[http.CanonicalHeaderKey(k)] = []string{v}
	}
	r.h.Set("Content-Digest", ContentDigest(r.body))
	r.msg = Message{Method: "GET", Scheme: "https", Authority: "gw.example.gov.cn:8443", Path: "/population/v1/persons", Query: "", Header: headerFunc(r.h)}
	old := r.msg
	old.Header = func(name string) []string {
		if v := r.h.Values(name); len(v) > 0 {
			return v
		}
		return []string{""}
	}
	items := make([]httpsfv.Item, len(CoveredComponents))
	for i, c := range CoveredComponents {
		items[i] = httpsfv.NewItem(c)
	}
	params := httpsfv.NewParams()
	params.Add("created", now.Unix())
	params.Add("nonce", "legacy-nonce")
	params.Add("keyid", declKeyID)
	params.Add("alg", SignatureAlgorithm)
	il := httpsfv.InnerList{Items: items, Params: params}
	base, err := SignatureBase(&old, il)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.Sign([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	in := httpsfv.NewDictionary()
	in.Add(SignatureLabel, il)
	inStr, _ := httpsfv.Marshal(in)
	r.h.Set("Signature-Input", inStr)
	r.h.Set("Signature", SignatureLabel+"=:"+base64.StdEncoding.EncodeToString(sig)+":")
	return r
}

func components(t *testing.T, r *signedRequest) string {
	t.Helper()
	in := r.h.Get("Signature-Input")
	i, j := strings.Index(in, "("), strings.Index(in, ")")
	if i < 0 || j < i {
		t.Fatalf("Signature-Input = %s", in)
	}
	return in[i+1 : j]
}

// TestSignCoversOnlyCarriedDeclarations: RFC 9421 §2.5 — a signer covers a declaration
// only when the request carries it, and the verifier accepts each such form.
func TestSignCoversOnlyCarriedDeclarations(t *testing.T) {
	key, _ := GenerateKey()
	now := time.Unix(1796000000, 0)
	req := `"@method" "@authority" "@path" "@query" "content-digest"`
	cases := []struct {
		name  string
		decl  map[string]string
		cover string
	}{
		{"none", nil, req},
		{"agreement", map[string]string{"x-govgate-agreement": "AGR-2026-0042"}, req + ` "x-govgate-agreement"`},
		{"purpose", map[string]string{"x-govgate-purpose": "social-insurance-check"}, req + ` "x-govgate-purpose"`},
		{"both", map[string]string{"x-govgate-agreement": "AGR-2026-0042", "x-govgate-purpose": "social-insurance-check"}, req + ` "x-govgate-agreement" "x-govgate-purpose"`},
		{"sent empty", map[string]string{"x-govgate-purpose": ""}, req + ` "x-govgate-purpose"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := declRequest(t, NewSigner(key), now, c.decl)
			if got := components(t, r); got != c.cover {
				t.Fatalf("covers %s, want %s", got, c.cover)
			}
			for _, legacy := range []bool{false, true} {
				v := NewRequestVerifier(0, 100)
				v.LegacyEmptyDeclarations = legacy
				p, err := v.Check(&r.msg, r.body, now, keyFor(declKeyID, &key.PublicKey))
				if err != nil {
					t.Fatalf("legacy=%v: %v", legacy, err)
				}
				for _, d := range DeclarationComponents {
					_, sent := c.decl[d]
					if strings.Contains(p.Base, `"`+d+`": `) != sent {
						t.Errorf("base covers %s: %v, sent: %v\n%s", d, !sent, sent, p.Base)
					}
				}
			}
		})
	}
}

// TestVerifyRefusesAbsentCoveredComponent: a signature covering a declaration the request
// does not carry is refused (signature_component_absent) by a strict verifier, whether the
// signer covered it for a field it then dropped or in the earlier profile's form.
func TestVerifyRefusesAbsentCoveredComponent(t *testing.T) {
	key, _ := GenerateKey()
	now := time.Unix(1796000000, 0)
	k := keyFor(declKeyID, &key.PublicKey)
	both := map[string]string{"x-govgate-agreement": "AGR-2026-0042", "x-govgate-purpose": "social-insurance-check"}
	for _, d := range DeclarationComponents {
		r := declRequest(t, NewSigner(key), now, both)
		r.h.Del(d) // the field is dropped after signing
		for _, legacy := range []bool{false, true} {
			v := NewRequestVerifier(0, 100)
			v.LegacyEmptyDeclarations = legacy
			_, err := v.Check(&r.msg, r.body, now, k)
			want := SigAbsent
			if legacy {
				want = SigInvalid // covered as empty, but it was signed with a value
			}
			if sigCode(err) != want {
				t.Errorf("%s dropped, legacy=%v: got %v, want %s", d, legacy, err, want)
			}
		}
	}
	// The earlier form (all seven covered, empty when absent): strict refuses it.
	r := legacyRequest(t, NewSigner(key), now, nil)
	if _, err := NewRequestVerifier(0, 100).Check(&r.msg, r.body, now, k); sigCode(err) != SigAbsent {
		t.Errorf("old form, strict: got %v, want %s", err, SigAbsent)
	}
	// A base over a covered field the message does not carry is SigAbsent, not a parse error.
	if _, err := SignatureBase(&r.msg, parseInput(t, `s=("x-govgate-agreement");created=1`)); sigCode(err) != SigAbsent {
		t.Errorf("SignatureBase: got %v, want %s", err, SigAbsent)
	}
}

// TestVerifyRefusesCarriedUncoveredDeclaration: a declaration added to a signed request is
// not the signer's: it is refused (signature_component_uncovered), even when empty, in
// either mode.
func TestVerifyRefusesCarriedUncoveredDeclaration(t *testing.T) {
	key, _ := GenerateKey()
	now := time.Unix(1796000000, 0)
	k := keyFor(declKeyID, &key.PublicKey)
	for _, d := range DeclarationComponents {
		for _, value := range []string{"AGR-2026-0099", ""} {
			for _, legacy := range []bool{false, true} {
				r := declRequest(t, NewSigner(key), now, nil)
				r.h[http.CanonicalHeaderKey(d)] = []string{value}
				v := NewRequestVerifier(0, 100)
				v.LegacyEmptyDeclarations = legacy
				if _, err := v.Check(&r.msg, r.body, now, k); sigCode(err) != SigUncovered {
					t.Errorf("%s=%q added, legacy=%v: got %v, want %s", d, value, legacy, err, SigUncovered)
				}
			}
		}
	}
	// Covering one declaration does not cover the other.
	r := declRequest(t, NewSigner(key), now, map[string]string{"x-govgate-agreement": "AGR-2026-0042"})
	r.h.Set("X-Govgate-Purpose", "anything")
	if _, err := NewRequestVerifier(0, 100).Check(&r.msg, r.body, now, k); sigCode(err) != SigUncovered {
		t.Errorf("purpose added beside a covered agreement: got %v", err)
	}
}

// TestLegacyEmptyDeclarations: the earlier form verifies where the verifier accepts it (the
// gateway, for old clients), still binding the declarations it signed.
func TestLegacyEmptyDeclarations(t *testing.T) {
	key, _ := GenerateKey()
	now := time.Unix(1796000000, 0)
	k := keyFor(declKeyID, &key.PublicKey)
	v := NewRequestVerifier(0, 100)
	v.LegacyEmptyDeclarations = true
	for _, decl := range []map[string]string{
		nil,
		{"x-govgate-agreement": "AGR-2026-0042"},
		{"x-govgate-agreement": "AGR-2026-0042", "x-govgate-purpose": "social-insurance-check"},
	} {
		r := legacyRequest(t, NewSigner(key), now, decl)
		p, err := v.Check(&r.msg, r.body, now, k)
		if err != nil {
			t.Fatalf("old form %v: %v", decl, err)
		}
		if decl == nil && !strings.Contains(p.Base, "\"x-govgate-agreement\": \n\"x-govgate-purpose\": \n") {
			t.Errorf("old form base:\n%s", p.Base)
		}
		if decl != nil {
			// A signed declaration cannot be changed, and an unsigned one cannot be added.
			r.h.Set("X-Govgate-Agreement", "AGR-2026-0099")
			if _, err := v.Check(&r.msg, r.body, now, k); sigCode(err) != SigInvalid {
				t.Errorf("old form, agreement changed: %v", err)
			}
		} else {
			r.h.Set("X-Govgate-Purpose", "added")
			if _, err := v.Check(&r.msg, r.body, now, k); sigCode(err) != SigInvalid {
				t.Errorf("old form, purpose added: %v", err)
			}
		}
	}
}

// TestProfileDeclarationOrder: declarations follow the required components, in order,
// each at most once; nothing else may be covered.
func TestProfileDeclarationOrder(t *testing.T) {
	req := `"@method" "@authority" "@path" "@query" "content-digest"`
	params := `;created=1796000000;nonce="abc";keyid="0a";alg="sm2-sm3"`
	for _, c := range []struct {
		cover string
		ok    bool
	}{
		{req, true},
		{req + ` "x-govgate-agreement"`, true},
		{req + ` "x-govgate-purpose"`, true},
		{req + ` "x-govgate-agreement" "x-govgate-purpose"`, true},
		{req + ` "x-govgate-purpose" "x-govgate-agreement"`, false},
		{req + ` "x-govgate-agreement" "x-govgate-agreement"`, false},
		{req + ` "date"`, false},
		{`"@method" "@authority" "@path" "@query"`, false},
		{`"x-govgate-agreement" ` + req, false},
	} {
		_, err := ParseSignature([]string{"govgate=(" + c.cover + ")" + params}, []string{"govgate=:AA==:"})
		if (err == nil) != c.ok {
			t.Errorf("%s: %v", c.cover, err)
		} else if err != nil && sigCode(err) != SigProfile {
			t.Errorf("%s: code %s", c.cover, sigCode(err))
		}
	}
}
