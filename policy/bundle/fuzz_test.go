package bundle_test

import (
	"testing"
	"time"

	"github.com/govgate/govgate/policy/bundle"
	"github.com/govgate/govgate/policy/bundle/bundletest"
)

// FuzzParseSignature: a signature file is a peer's bytes; parsing must never panic, and a
// file it accepts must have the shape Verify relies on.
func FuzzParseSignature(f *testing.F) {
	pki := bundletest.NewPKI(f, "fuzz root")
	b := bundletest.Build(f, "fuzz")
	f.Add(pki.Officer(f).Sign(f, b))
	f.Add([]byte(`{"format":"govgate-bundle-signature/v1"}`))
	f.Add([]byte(`{}{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := bundle.ParseSignature(data)
		if err != nil {
			return
		}
		if len(s.Certificates) == 0 || len(s.Signature) == 0 || s.Format != bundle.SignatureFormat {
			t.Fatalf("accepted a signature file without its parts: %+v", s)
		}
		v, err := bundle.NewVerifier([]string{pki.CAFile}, "", bundletest.Audience)
		if err != nil {
			t.Fatal(err)
		}
		// Whatever was parsed, verifying it against some bytes must not panic.
		_, _ = v.Verify(b, data, time.Now())
	})
}

// FuzzRead: the bundle reader (manifest, tar, gzip) runs on verified bytes only, but a
// security officer's mistake is still input; it must refuse, not panic.
func FuzzRead(f *testing.F) {
	f.Add(bundletest.Build(f, "fuzz"))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := bundle.Read(data)
		if err != nil {
			return
		}
		if len(l.Files.Modules) == 0 {
			t.Fatal("accepted a bundle without modules")
		}
	})
}
