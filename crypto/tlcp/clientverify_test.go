package tlcp

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm3"
)

// What a test client's CertificateVerify signs, given the handshake messages so far and
// their SM3 digest.
var (
	signDigest     = func(_, digest []byte) []byte { return digest }
	signTranscript = func(transcript, _ []byte) []byte { return transcript }
	// signOtherTranscript signs, in the raw form, messages that differ from the handshake
	// in their last byte; signOtherDigest signs their SM3.
	signOtherTranscript = func(transcript, _ []byte) []byte { return flipLast(transcript) }
	signOtherDigest     = func(transcript, _ []byte) []byte { d := sm3.Sum(flipLast(transcript)); return d[:] }
)

func flipLast(b []byte) []byte {
	out := append([]byte(nil), b...)
	out[len(out)-1] ^= 1
	return out
}

// verifyServer is a TLCP listener that completes handshakes and reports each failure's
// reason on the returned channel.
func verifyServer(t *testing.T, p *testPKI, digestOnly bool) (string, *Listener, <-chan string) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ids := &IdentitySource{}
	if err := ids.Store(p.server); err != nil {
		t.Fatal(err)
	}
	ln, err := NewListener(inner, ServerConfig{Identity: ids, Trust: p.trust, HandshakeTimeout: 3 * time.Second,
		Logger: quietLogger(), DigestVerifyOnly: digestOnly})
	if err != nil {
		t.Fatal(err)
	}
	failures := make(chan string, 16)
	ln.OnHandshakeFailure(func(f HandshakeFailure) { failures <- f.Reason })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if c.(*Conn).Handshake() == nil {
					c.Write([]byte("ok"))
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return inner.Addr().String(), ln, failures
}

// handshakeSigning completes a handshake as id, its CertificateVerify signing what input
// chooses, and reads the server's answer.
func handshakeSigning(t *testing.T, addr string, p *testPKI, id *Identity, input func(transcript, digest []byte) []byte) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dial(ctx, "tcp", addr, ClientConfig{Identity: id, Trust: p.trust, ServerName: "localhost",
		Logger: quietLogger(), certificateVerifyInput: input})
	if err != nil {
		return err
	}
	defer c.Close()
	// The answer may come with the server's close_notify (n == 2 and io.EOF).
	buf := make([]byte, 2)
	if n, err := io.ReadFull(c, buf); n != 2 || string(buf) != "ok" {
		return fmt.Errorf("answer %q: %w", buf[:n], err)
	}
	return nil
}

func counts(ln *Listener) (digest, raw uint64) {
	for _, c := range ln.ClientVerifyStats().Counts() {
		switch c.Form {
		case ClientVerifySM3Digest:
			digest = c.Count
		case ClientVerifyRawTranscript:
			raw = c.Count
		}
	}
	return digest, raw
}

// GmSSL 3.x clients sign the handshake messages themselves where GB/T 38636 signs their
// SM3: by default the listener accepts both and counts which each connection used.
func TestClientVerifyBothFormsAccepted(t *testing.T) {
	p := newTestPKI(t)
	addr, ln, _ := verifyServer(t, p, false)

	if err := handshakeSigning(t, addr, p, p.client, nil); err != nil {
		t.Fatalf("the default (SM3 digest) form was refused: %v", err)
	}
	if err := handshakeSigning(t, addr, p, p.client, signDigest); err != nil {
		t.Fatalf("the SM3 digest form was refused: %v", err)
	}
	if d, r := counts(ln); d != 2 || r != 0 {
		t.Fatalf("after two digest-form handshakes: sm3_digest %d, raw_transcript %d", d, r)
	}
	if err := handshakeSigning(t, addr, p, p.client, signTranscript); err != nil {
		t.Fatalf("the raw-transcript form (GmSSL 3.x) was refused: %v", err)
	}
	if d, r := counts(ln); d != 2 || r != 1 {
		t.Errorf("after a raw-form handshake: sm3_digest %d, raw_transcript %d; want 2, 1", d, r)
	}
}

// With digest_only, a raw-form signature is refused with bad_certificate (and counted as a
// bad signature, not as a verification); the standard form still passes.
func TestClientVerifyRawRefusedWhenDigestOnly(t *testing.T) {
	p := newTestPKI(t)
	addr, ln, failures := verifyServer(t, p, true)

	err := handshakeSigning(t, addr, p, p.client, signTranscript)
	if err == nil || !strings.Contains(err.Error(), "bad certificate") {
		t.Fatalf("raw form with digest_only: %v, want a bad_certificate alert", err)
	}
	if reason := <-failures; reason != ReasonBadSignature {
		t.Errorf("server reason %q, want %q", reason, ReasonBadSignature)
	}
	if err := handshakeSigning(t, addr, p, p.client, nil); err != nil {
		t.Fatalf("digest form with digest_only: %v", err)
	}
	if d, r := counts(ln); d != 1 || r != 0 {
		t.Errorf("sm3_digest %d, raw_transcript %d; want 1, 0", d, r)
	}
}

// Accepting a second form accepts no other signature: one by a key other than the
// certificate's, or over messages other than this handshake's, is refused in both forms,
// whether or not the raw form is enabled.
func TestClientVerifyForgeriesRefused(t *testing.T) {
	p := newTestPKI(t)
	other := *p.client
	other.SignKey = p.server.SignKey // the client's certificate, another key
	cases := []struct {
		name  string
		id    *Identity
		input func(transcript, digest []byte) []byte
	}{
		{"wrong key, digest form", &other, signDigest},
		{"wrong key, raw form", &other, signTranscript},
		{"other transcript, digest form", p.client, signOtherDigest},
		{"other transcript, raw form", p.client, signOtherTranscript},
	}
	for _, digestOnly := range []bool{false, true} {
		addr, ln, failures := verifyServer(t, p, digestOnly)
		for _, c := range cases {
			err := handshakeSigning(t, addr, p, c.id, c.input)
			if err == nil || !strings.Contains(err.Error(), "bad certificate") {
				t.Errorf("digest_only=%v, %s: %v, want a bad_certificate alert", digestOnly, c.name, err)
				continue
			}
			if reason := <-failures; reason != ReasonBadSignature {
				t.Errorf("digest_only=%v, %s: server reason %q, want %q", digestOnly, c.name, reason, ReasonBadSignature)
			}
		}
		if d, r := counts(ln); d != 0 || r != 0 {
			t.Errorf("digest_only=%v: forgeries counted as verified: sm3_digest %d, raw_transcript %d", digestOnly, d, r)
		}
		// The genuine client is still served.
		if err := handshakeSigning(t, addr, p, p.client, nil); err != nil {
			t.Fatalf("digest_only=%v: genuine client after forgeries: %v", digestOnly, err)
		}
	}
}

// Listeners given one ClientVerifyStats count into it, so that a count outlives a
// listener restarted by a reload.
func TestClientVerifyStatsShared(t *testing.T) {
	p := newTestPKI(t)
	stats := &ClientVerifyStats{}
	ids := &IdentitySource{}
	if err := ids.Store(p.server); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := NewListener(inner, ServerConfig{Identity: ids, Trust: p.trust, ClientVerify: stats})
		if err != nil {
			t.Fatal(err)
		}
		if ln.ClientVerifyStats() != stats {
			t.Fatal("the listener does not count into the given stats")
		}
		ln.Close()
	}
}
