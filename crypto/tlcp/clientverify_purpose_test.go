package tlcp

import (
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm3"
)

// TestClientVerifyOtherPurposesRefused: with the raw form accepted, a signature the
// client's signing key made for another purpose — an RFC 9421 request signature base, a
// checkpoint note — is no CertificateVerify, in either form: what is signed must be this
// handshake's messages (which begin with the ClientHello and hold the server's fresh
// random) or their SM3. A hostile party holding such a signature, or able to have the
// client sign such text, cannot log in as the client.
func TestClientVerifyOtherPurposesRefused(t *testing.T) {
	p := newTestPKI(t)
	base := []byte(`"@method": GET
"@authority": gw.example
"@path": /
"@query": ?
"content-digest": sm3=:ZGlnZXN0:
"@signature-params": ("@method" "@authority" "@path" "@query" "content-digest");created=1700000000;nonce="bm9uY2UtMQ";keyid="1a2b3c";alg="sm2-sm3"`)
	note := []byte("govgate/gw-1\n42\nq1Ls3hRQZ3PoyB0ZLyH+UrZ3Q5MOb2bFYq0pyc6zQRc=\n")
	fixed := func(b []byte) func(_, _ []byte) []byte { return func(_, _ []byte) []byte { return b } }
	digestOf := func(b []byte) func(_, _ []byte) []byte {
		return func(_, _ []byte) []byte { d := sm3.Sum(b); return d[:] }
	}
	addr, ln, failures := verifyServer(t, p, false)
	for name, input := range map[string]func(_, _ []byte) []byte{
		"request signature base":          fixed(base),
		"SM3 of a request signature base": digestOf(base),
		"checkpoint note":                 fixed(note),
		"transcript with a base appended": func(tr, _ []byte) []byte { return append(append([]byte{}, tr...), base...) },
	} {
		err := handshakeSigning(t, addr, p, p.client, input)
		if err == nil || !strings.Contains(err.Error(), "bad certificate") {
			t.Errorf("%s: %v, want a bad_certificate alert", name, err)
			continue
		}
		if reason := <-failures; reason != ReasonBadSignature {
			t.Errorf("%s: server reason %q, want %q", name, reason, ReasonBadSignature)
		}
	}
	if d, r := counts(ln); d != 0 || r != 0 {
		t.Errorf("other purposes counted as verified: sm3_digest %d, raw_transcript %d", d, r)
	}
	if err := handshakeSigning(t, addr, p, p.client, nil); err != nil {
		t.Fatalf("genuine client: %v", err)
	}
}
