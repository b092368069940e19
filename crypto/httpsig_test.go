package crypto

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"
)

// rfcRequest is the test request of RFC 9421 Appendix B.2.
func rfcRequest() *Message {
	h := http.Header{}
	h.Set("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
	h.Set("Content-Type", "application/json")
	h.Set("Content-Digest", "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:")
	h.Set("Content-Length", "18")
	return &Message{Method: "POST", Scheme: "https", Authority: "example.com", Path: "/foo", Query: "param=Value&Pet=dog", Header: headerFunc(h)}
}

func headerFunc(h http.Header) func(string) []string {
	return func(name string) []string { return append([]string(nil), h.Values(name)...) }
}

func parseInput(t *testing.T, field string) httpsfv.InnerList {
	t.Helper()
	d, err := httpsfv.UnmarshalDictionary([]string{field})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := d.Get(d.Names()[0])
	return m.(httpsfv.InnerList)
}

func TestSignatureBaseMatchesRFC9421AppendixB(t *testing.T) {
	cases := []struct{ name, input, base string }{
		{"B.2.1", `sig-b21=();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"`,
			`"@signature-params": ();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"`},
		{"B.2.3", `sig-b23=("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss"`,
			strings.Join([]string{
				`"date": Tue, 20 Apr 2021 02:07:55 GMT`,
				`"@method": POST`,
				`"@path": /foo`,
				`"@query": ?param=Value&Pet=dog`,
				`"@authority": example.com`,
				`"content-type": application/json`,
				`"content-digest": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:`,
				`"content-length": 18`,
				`"@signature-params": ("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss"`,
			}, "\n")},
		{"B.2.6", `sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`,
			strings.Join([]string{
				`"date": Tue, 20 Apr 2021 02:07:55 GMT`,
				`"@method": POST`,
				`"@path": /foo`,
				`"@authority": example.com`,
				`"content-type": application/json`,
				`"content-length": 18`,
				`"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`,
			}, "\n")},
	}
	for _, c := range cases {
		got, err := SignatureBase(rfcRequest(), parseInput(t, c.input))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.base {
			t.Errorf("%s: signature base differs\ngot:\n%s\nwant:\n%s", c.name, got, c.base)
		}
	}
	if _, err := SignatureBase(rfcRequest(), parseInput(t, `s=("x-absent");created=1`)); err == nil {
		t.Error("an absent covered field was accepted")
	}
	if _, err := SignatureBase(rfcRequest(), parseInput(t, `s=("@query-param";name="Pet");created=1`)); err == nil {
		t.Error("an unsupported component parameter was accepted")
	}
}

// signedRequest is a request for population data, signed now by key with keyID.
type signedRequest struct {
	msg  Message
	h    http.Header
	body []byte
}

func newSignedRequest(t *testing.T, s *Signer, keyID string, now time.Time) *signedRequest {
	t.Helper()
	r := &signedRequest{h: http.Header{}, body: []byte(`{"id_numbers":["110101199003077777"]}`)}
	r.h.Set("X-Govgate-Agreement", "AGR-2026-0042")
	r.h.Set("X-Govgate-Purpose", "social-insurance-check")
	r.msg = Message{Method: "POST", Scheme: "https", Authority: "gw.example.gov.cn:8443", Path: "/population/v1/persons:batch", Query: "fields=name", Header: headerFunc(r.h)}
	sh, err := SignRequest(s, keyID, &r.msg, r.body, now)
	if err != nil {
		t.Fatal(err)
	}
	r.h.Set("Content-Digest", sh.ContentDigest)
	r.h.Set("Signature-Input", sh.SignatureInput)
	r.h.Set("Signature", sh.Signature)
	return r
}

func keyFor(keyID string, pub *PublicKey) func(string) (*PublicKey, error) {
	return func(id string) (*PublicKey, error) {
		if id != keyID {
			return nil, fmt.Errorf("keyid %s is not the serial of the presented certificate", id)
		}
		return pub, nil
	}
}

func sigCode(err error) string {
	var se *SignatureError
	if errors.As(err, &se) {
		return se.Code
	}
	return fmt.Sprint(err)
}

func TestRequestSignatureVerifies(t *testing.T) {
	key, _ := GenerateKey()
	now := time.Unix(1796000000, 0)
	r := newSignedRequest(t, NewSigner(key), "1a2b3c4d5e6f7081", now)
	if !strings.HasPrefix(r.h.Get("Signature-Input"), `govgate=("@method" "@authority" "@path" "@query" "content-digest" "x-govgate-agreement" "x-govgate-purpose");created=1796000000;nonce="`) ||
		!strings.HasSuffix(r.h.Get("Signature-Input"), `;keyid="1a2b3c4d5e6f7081";alg="sm2-sm3"`) {
		t.Fatalf("Signature-Input = %s", r.h.Get("Signature-Input"))
	}
	if !strings.HasPrefix(r.h.Get("Content-Digest"), "sm3=:") {
		t.Fatalf("Content-Digest = %s", r.h.Get("Content-Digest"))
	}
	v := NewRequestVerifier(0, 100)
	p, err := v.Verify(&r.msg, r.body, now.Add(10*time.Second), keyFor("1a2b3c4d5e6f7081", &key.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if p.KeyID != "1a2b3c4d5e6f7081" || p.Nonce == "" {
		t.Errorf("parsed %+v", p)
	}
	// The same request again is a replay.
	if _, err := v.Verify(&r.msg, r.body, now.Add(11*time.Second), keyFor("1a2b3c4d5e6f7081", &key.PublicKey)); sigCode(err) != SigReplayed {
		t.Errorf("replay: %v", err)
	}
}

func TestRequestSignatureRefusals(t *testing.T) {
	key, _ := GenerateKey()
	other, _ := GenerateKey()
	const kid = "0a0b0c0d0e0f1011"
	now := time.Unix(1796000000, 0)
	cases := []struct {
		name   string
		mutate func(r *signedRequest)
		at     time.Time
		key    func(string) (*PublicKey, error)
		want   string
	}{
		{"method", func(r *signedRequest) { r.msg.Method = "GET" }, now, nil, SigInvalid},
		{"authority", func(r *signedRequest) { r.msg.Authority = "evil.example" }, now, nil, SigInvalid},
		{"path", func(r *signedRequest) { r.msg.Path = "/enterprise/v1/companies" }, now, nil, SigInvalid},
		{"query", func(r *signedRequest) { r.msg.Query = "fields=name,id_number" }, now, nil, SigInvalid},
		{"agreement", func(r *signedRequest) { r.h.Set("X-Govgate-Agreement", "AGR-2026-0099") }, now, nil, SigInvalid},
		{"purpose", func(r *signedRequest) { r.h.Set("X-Govgate-Purpose", "marketing") }, now, nil, SigInvalid},
		{"digest header", func(r *signedRequest) {
			r.body = []byte(`{"id_numbers":["110105198811230026"]}`)
			r.h.Set("Content-Digest", ContentDigest(r.body))
		}, now, nil, SigInvalid},
		{"body", func(r *signedRequest) { r.body = []byte(`{"id_numbers":["110105198811230026"]}`) }, now, nil, SigDigestMismatch},
		{"no digest", func(r *signedRequest) { r.h.Del("Content-Digest") }, now, nil, SigDigestMismatch},
		{"stale", func(*signedRequest) {}, now.Add(301 * time.Second), nil, SigExpired},
		{"future", func(*signedRequest) {}, now.Add(-301 * time.Second), nil, SigExpired},
		{"unknown keyid", func(*signedRequest) {}, now, keyFor("ffff", &key.PublicKey), SigUnknownKey},
		{"other key", func(*signedRequest) {}, now, keyFor(kid, &other.PublicKey), SigInvalid},
		{"no signature", func(r *signedRequest) { r.h.Del("Signature"); r.h.Del("Signature-Input") }, now, nil, SigMissing},
		{"wrong label", func(r *signedRequest) {
			r.h.Set("Signature", strings.Replace(r.h.Get("Signature"), "govgate=", "other=", 1))
		}, now, nil, SigMissing},
		{"fewer components", func(r *signedRequest) {
			r.h.Set("Signature-Input", strings.Replace(r.h.Get("Signature-Input"), ` "@query"`, "", 1))
		}, now, nil, SigProfile},
		{"other algorithm", func(r *signedRequest) {
			r.h.Set("Signature-Input", strings.Replace(r.h.Get("Signature-Input"), `alg="sm2-sm3"`, `alg="ed25519"`, 1))
		}, now, nil, SigProfile},
		{"garbage", func(r *signedRequest) { r.h.Set("Signature", "govgate=:!!!:") }, now, nil, SigMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newSignedRequest(t, NewSigner(key), kid, now)
			c.mutate(r)
			k := c.key
			if k == nil {
				k = keyFor(kid, &key.PublicKey)
			}
			_, err := NewRequestVerifier(0, 100).Verify(&r.msg, r.body, c.at, k)
			if sigCode(err) != c.want {
				t.Fatalf("got %v, want %s", err, c.want)
			}
		})
	}
}

func TestNonceCacheBounded(t *testing.T) {
	c := NewNonceCache(3)
	now := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		if err := c.Claim("k", fmt.Sprint(i), now.Add(time.Minute), now); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Claim("k", "3", now.Add(time.Minute), now); sigCode(err) != SigReplayFull {
		t.Fatalf("full cache: %v", err)
	}
	if err := c.Claim("other-key", "0", now.Add(time.Minute), now); sigCode(err) != SigReplayFull {
		t.Fatalf("full cache, other key: %v", err)
	}
	// Once the first ones expire there is room again, and an expired nonce is forgotten.
	later := now.Add(2 * time.Minute)
	if err := c.Claim("k", "3", later.Add(time.Minute), later); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 1 {
		t.Errorf("cache holds %d after expiry, want 1", c.Len())
	}
	if err := c.Claim("k", "3", later.Add(time.Minute), later); sigCode(err) != SigReplayed {
		t.Errorf("replay within window: %v", err)
	}
}

// FuzzParseSignature throws arbitrary field values at the parser: it must refuse with a
// SignatureError or accept something that follows the profile, never panic.
func FuzzParseSignature(f *testing.F) {
	f.Add(`govgate=("@method" "@authority" "@path" "@query" "content-digest" "x-govgate-agreement" "x-govgate-purpose");created=1796000000;nonce="abc";keyid="0a";alg="sm2-sm3"`, `govgate=:MEUCIQ==:`, `sm3=:AAAA:`)
	f.Add(`govgate=();created=1`, `govgate=:AA==:`, ``)
	f.Add(`a=(`, `b=:`, `sm3=?0`)
	f.Add(`govgate=("@method" "@authority" "@path" "@query" "content-digest");created=1796000000;nonce="abc";keyid="0a";alg="sm2-sm3"`, `govgate=:MEUCIQ==:`, `sm3=:AAAA:`)
	f.Add(`govgate=("@method" "@authority" "@path" "@query" "content-digest" "x-govgate-purpose");created=1796000000;nonce="abc";keyid="0a";alg="sm2-sm3"`, `govgate=:MEUCIQ==:`, `sm3=:AAAA:`)
	f.Add(`govgate=("@method" "@authority" "@path" "@query" "content-digest" "x-govgate-purpose" "x-govgate-agreement");created=1796000000;nonce="abc";keyid="0a";alg="sm2-sm3"`, `govgate=:MEUCIQ==:`, `sm3=:AAAA:`)
	f.Add(`govgate=("@method" "@authority" "@path" "@query" "content-digest" "x-govgate-agreement" "x-govgate-purpose");created=1;nonce="a";keyid="0a";alg="sm2-sm3", govgate=("@method");created=2`, `govgate=:AA==:, other=:AA==:`, `sm3=:AAAA:, sha-256=:AAAA:`)
	f.Fuzz(func(t *testing.T, input, sig, digest string) {
		p, err := ParseSignature([]string{input}, []string{sig})
		if err != nil {
			var se *SignatureError
			if !errors.As(err, &se) {
				t.Fatalf("untyped error %v", err)
			}
		} else if p.Nonce == "" || p.KeyID == "" || !onProfile(p.Params.Items) {
			t.Fatalf("accepted off-profile signature %+v", p)
		} else if fieldMembers(input) != 1 || fieldMembers(sig) != 1 {
			t.Fatalf("accepted a repeated signature field: %q %q", input, sig)
		}
		CheckContentDigest([]string{digest}, []byte("body"))
	})
}

// onProfile: the required components in order, then declarations in order, each once.
func onProfile(items []httpsfv.Item) bool {
	if len(items) < len(RequiredComponents) {
		return false
	}
	for i, c := range RequiredComponents {
		if s, _ := items[i].Value.(string); s != c {
			return false
		}
	}
	next := 0
	for _, it := range items[len(RequiredComponents):] {
		s, _ := it.Value.(string)
		for next < len(DeclarationComponents) && DeclarationComponents[next] != s {
			next++
		}
		if next == len(DeclarationComponents) {
			return false
		}
		next++
	}
	return true
}
