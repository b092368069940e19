package crypto

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"
)

// TestRepeatedSignatureFieldsRefused: a signature field sent twice — a second header
// line, a second member joined by a comma, the same label twice — is refused before the
// signature is even checked, so that what is verified and what is recorded can never be
// two different readings of the request, and no nonce is claimed.
func TestRepeatedSignatureFieldsRefused(t *testing.T) {
	key, _ := GenerateKey()
	const kid = "0a0b0c0d0e0f1011"
	now := time.Unix(1796000000, 0)
	cases := []struct {
		name   string
		mutate func(r *signedRequest)
	}{
		{"second Signature line", func(r *signedRequest) { r.h.Add("Signature", "other=:AAAA:") }},
		{"second Signature-Input line", func(r *signedRequest) { r.h.Add("Signature-Input", r.h.Get("Signature-Input")) }},
		{"second Content-Digest line", func(r *signedRequest) { r.h.Add("Content-Digest", r.h.Get("Content-Digest")) }},
		{"Signature member joined", func(r *signedRequest) { r.h.Set("Signature", r.h.Get("Signature")+", other=:AAAA:") }},
		{"Signature label twice", func(r *signedRequest) { r.h.Set("Signature", r.h.Get("Signature")+","+r.h.Get("Signature")) }},
		{"Signature-Input member joined", func(r *signedRequest) {
			r.h.Set("Signature-Input", r.h.Get("Signature-Input")+`, other=("@method");created=1`)
		}},
		{"Content-Digest second algorithm", func(r *signedRequest) {
			r.h.Set("Content-Digest", r.h.Get("Content-Digest")+", sha-256=:AAAA:")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newSignedRequest(t, NewSigner(key), kid, now)
			c.mutate(r)
			v := NewRequestVerifier(0, 100)
			_, err := v.Verify(&r.msg, r.body, now, keyFor(kid, &key.PublicKey))
			if sigCode(err) != SigRepeated {
				t.Fatalf("got %v, want %s", err, SigRepeated)
			}
			if n := v.Nonces.Len(); n != 0 {
				t.Errorf("a refused signature claimed %d nonces", n)
			}
		})
	}
	// The untouched request verifies: the refusals above are the repetition's.
	r := newSignedRequest(t, NewSigner(key), kid, now)
	if _, err := NewRequestVerifier(0, 100).Verify(&r.msg, r.body, now, keyFor(kid, &key.PublicKey)); err != nil {
		t.Fatal(err)
	}
}

// TestFutureSkewIsSmallerThanThePast: a signature may be up to Skew old but only
// FutureSkew ahead of the gateway's clock, so that a department cannot make its nonces
// live in the cache for Skew+Skew.
func TestFutureSkewIsSmallerThanThePast(t *testing.T) {
	key, _ := GenerateKey()
	const kid = "0a0b0c0d0e0f1011"
	created := time.Unix(1796000000, 0)
	for _, c := range []struct {
		name string
		at   time.Time // the gateway's clock
		want string
	}{
		{"299 s old", created.Add(299 * time.Second), ""},
		{"301 s old", created.Add(301 * time.Second), SigExpired},
		{"29 s ahead", created.Add(-29 * time.Second), ""},
		{"31 s ahead", created.Add(-31 * time.Second), SigExpired},
	} {
		r := newSignedRequest(t, NewSigner(key), kid, created)
		v := NewRequestVerifier(0, 100)
		if v.FutureSkew != DefaultFutureSkew {
			t.Fatalf("future skew %v, want the default %v", v.FutureSkew, DefaultFutureSkew)
		}
		_, err := v.Verify(&r.msg, r.body, c.at, keyFor(kid, &key.PublicKey))
		if got := sigCode(err); (c.want == "" && err != nil) || (c.want != "" && got != c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// TestCheckDoesNotClaim: Check verifies without remembering the nonce, so that a request
// refused later (no route, denied) does not use up the department's share; the claim is a
// separate step, and a second claim of the same nonce is a replay.
func TestCheckDoesNotClaim(t *testing.T) {
	key, _ := GenerateKey()
	const kid = "0a0b0c0d0e0f1011"
	now := time.Unix(1796000000, 0)
	r := newSignedRequest(t, NewSigner(key), kid, now)
	v := NewRequestVerifier(0, 100)
	for range 2 {
		if _, err := v.Check(&r.msg, r.body, now, keyFor(kid, &key.PublicKey)); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := v.Check(&r.msg, r.body, now, keyFor(kid, &key.PublicKey))
	claim := v.ClaimOf("110000-rensheju", p)
	if claim.Expiry != p.Created.Add(v.Skew) || claim.Dept != "110000-rensheju" || claim.KeyID != kid {
		t.Fatalf("claim %+v", claim)
	}
	if err := v.Nonces.ClaimNonce(context.Background(), claim, now); err != nil {
		t.Fatal(err)
	}
	if err := v.Nonces.ClaimNonce(context.Background(), claim, now); sigCode(err) != SigReplayed {
		t.Fatalf("second claim: %v", err)
	}
}

// TestNonceCacheDepartmentShare: one department filling its share is refused, alone; the
// others still claim. A restored claim (the window rebuilt after a restart) is kept even
// beyond the share, since forgetting it would reopen a replay.
func TestNonceCacheDepartmentShare(t *testing.T) {
	c := NewNonceCacheShared(10, 2)
	ctx := context.Background()
	now := time.Unix(1000, 0)
	claim := func(dept, nonce string, at time.Time) error {
		return c.ClaimNonce(ctx, NonceClaim{Dept: dept, KeyID: "k-" + dept, Nonce: nonce, Expiry: at.Add(time.Minute)}, at)
	}
	for i := range 2 {
		if err := claim("a", fmt.Sprint(i), now); err != nil {
			t.Fatal(err)
		}
	}
	if err := claim("a", "2", now); sigCode(err) != SigReplayFull {
		t.Fatalf("department a past its share: %v", err)
	}
	for i := range 2 {
		if err := claim("b", fmt.Sprint(i), now); err != nil {
			t.Fatalf("department b refused because a filled its share: %v", err)
		}
	}
	later := now.Add(2 * time.Minute)
	if err := claim("a", "2", later); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if c.DeptLen("a") != 1 || c.DeptLen("b") != 0 {
		t.Errorf("shares after expiry: a %d, b %d", c.DeptLen("a"), c.DeptLen("b"))
	}
	for i := range 5 {
		if err := c.ClaimNonce(ctx, NonceClaim{Dept: "a", KeyID: "k-a", Nonce: fmt.Sprint("r", i), Expiry: later.Add(time.Minute), Restore: true}, later); err != nil {
			t.Fatalf("restore beyond the share: %v", err)
		}
	}
	if err := claim("a", "r3", later); sigCode(err) != SigReplayed {
		t.Errorf("a restored nonce used again: %v", err)
	}
}

// TestFieldMembers counts top-level members of structured field values: commas inside
// strings, inner lists and parameters do not separate members.
func TestFieldMembers(t *testing.T) {
	for v, want := range map[string]int{
		`govgate=:AAAA:`: 1,
		`govgate=("@method" "a,b");nonce="x,y";keyid="z"`: 1,
		`govgate=:AAAA:, other=:BBBB:`:                    2,
		`a=1,a=2`:                                         2,
		`a="\",", b`:                                      2,
		`sm3=:AA==:,sha-256=:BB==:,x`:                     3,
	} {
		if got := fieldMembers(v); got != want {
			t.Errorf("fieldMembers(%q) = %d, want %d", v, got, want)
		}
	}
}

// FuzzFieldMembers holds fieldMembers to the structured-field parser: whatever parses
// as a dictionary has at least as many members as it names (duplicate keys collapse), and
// a dictionary written out again has exactly as many.
func FuzzFieldMembers(f *testing.F) {
	f.Add(`govgate=("@method" "@authority");created=1;nonce="a,b";keyid="01";alg="sm2-sm3"`)
	f.Add(`govgate=:AAAA:, other=:BBBB:`)
	f.Add(`a="\",", b=?0;x="(,)"`)
	f.Fuzz(func(t *testing.T, v string) {
		n := fieldMembers(v)
		d, err := httpsfv.UnmarshalDictionary([]string{v})
		if err != nil {
			return
		}
		if names := len(d.Names()); n < names || (strings.TrimSpace(v) != "" && n == 0) {
			t.Fatalf("fieldMembers(%q) = %d, the parser names %d", v, n, names)
		}
		out, err := httpsfv.Marshal(d)
		if err != nil {
			return
		}
		if got := fieldMembers(out); got != len(d.Names()) && out != "" {
			t.Fatalf("fieldMembers(%q) = %d, written from %d members", out, got, len(d.Names()))
		}
	})
}

// TestNonceCacheShareOfAStaleEntry: a nonce gone stale but not yet dropped (it sat behind
// a fresher one) and then claimed again counts once in its department's share.
func TestNonceCacheShareOfAStaleEntry(t *testing.T) {
	c := NewNonceCacheShared(10, 5)
	ctx := context.Background()
	now := time.Unix(1000, 0)
	claim := func(nonce string, expiry, at time.Time) error {
		return c.ClaimNonce(ctx, NonceClaim{Dept: "a", KeyID: "k", Nonce: nonce, Expiry: expiry}, at)
	}
	if err := claim("long", now.Add(10*time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := claim("short", now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	later := now.Add(2 * time.Minute)
	if err := claim("short", later.Add(time.Minute), later); err != nil {
		t.Fatalf("a stale nonce claimed again: %v", err)
	}
	if n := c.DeptLen("a"); n != 2 {
		t.Errorf("department a holds %d, want 2", n)
	}
	if err := claim("short", later.Add(time.Minute), later); sigCode(err) != SigReplayed {
		t.Errorf("replay of the re-claimed nonce: %v", err)
	}
}

// TestNonceCacheRelease: a released claim gives its share back and may be claimed again;
// a flood of claims released at once does not grow the cache's bookkeeping.
func TestNonceCacheRelease(t *testing.T) {
	c := NewNonceCacheShared(10, 1)
	ctx := context.Background()
	now := time.Unix(1000, 0)
	cl := NonceClaim{Dept: "a", KeyID: "k", Nonce: "n", Expiry: now.Add(time.Minute)}
	for range 3 {
		if err := c.ClaimNonce(ctx, cl, now); err != nil {
			t.Fatal(err)
		}
		if err := c.ReleaseNonce(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	if c.DeptLen("a") != 0 || c.Len() != 0 {
		t.Errorf("after release: dept %d, all %d", c.DeptLen("a"), c.Len())
	}
	for i := range 100_000 {
		cl.Nonce = fmt.Sprint(i)
		if err := c.ClaimNonce(ctx, cl, now); err != nil {
			t.Fatal(err)
		}
		c.ReleaseNonce(ctx, cl)
	}
	if n := len(c.order) - c.dropped; n > 2048 {
		t.Errorf("%d entries kept for released claims", n)
	}
}
