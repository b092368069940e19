package bundle_test

import (
	"testing"
	"time"

	"github.com/govgate/govgate/policy"
	"github.com/govgate/govgate/policy/bundle"
	"github.com/govgate/govgate/policy/bundle/bundletest"
)

// BenchmarkBundleStages measures, on the shipped policy, what a new bundle costs a
// gateway before the engine's compile and tests (verify: SM3 + chain + SM2; read: gunzip,
// untar, OPA's parse) beside compile+tests, the baseline it adds to.
func BenchmarkBundleStages(b *testing.B) {
	pki := bundletest.NewPKI(b, "bench root")
	raw := bundletest.Build(b, "bench")
	sig := pki.Officer(b).Sign(b, raw)
	v, err := bundle.NewVerifier([]string{pki.CAFile}, "", bundletest.Audience)
	if err != nil {
		b.Fatal(err)
	}
	l, err := bundle.Read(raw)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.Verify(raw, sig, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			if _, err := bundle.Read(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compile+tests", func(b *testing.B) {
		for b.Loop() {
			if _, err := policy.Compile(b.Context(), l.Files); err != nil {
				b.Fatal(err)
			}
			if _, err := policy.RunTests(b.Context(), l.Files, false); err != nil {
				b.Fatal(err)
			}
		}
	})
}
