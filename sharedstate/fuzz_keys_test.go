package sharedstate

import (
	"strings"
	"testing"
)

// FuzzKeys: whatever department, key id, nonce and agreement a peer sends, every key of a
// department hashes on the same non-empty tag, two different departments never share a
// tag, and two different claims never share a key.
func FuzzKeys(f *testing.F) {
	f.Add("110000-shuiwu", "5f1c0e9a", "abcDEF_-", "AGR-2025-0219", "other")
	f.Add("", "}", "{", ":", "%")
	f.Add("a}b", "k:1", "n", "A{", "a")
	f.Fuzz(func(t *testing.T, dept, keyID, nonce, agreement, dept2 string) {
		k := Keys{Prefix: "govgate:"}
		tag := hashTag(k.Nonce(dept, keyID, nonce))
		if tag == "" {
			t.Fatalf("empty hash tag for %q", dept)
		}
		for _, key := range []string{k.NonceBucket(dept, 3), k.QuotaDay(dept, agreement, 1), k.QuotaMinute(dept, agreement, 1)} {
			if hashTag(key) != tag {
				t.Fatalf("%q hashes on %q, the department's nonce on %q", key, hashTag(key), tag)
			}
		}
		if dept2 != dept && hashTag(k.Nonce(dept2, keyID, nonce)) == tag {
			t.Fatalf("departments %q and %q share the tag %q", dept, dept2, tag)
		}
		// Escaped names hold no separator or brace, so the parts of a key are recoverable.
		for _, name := range []string{dept, keyID, nonce, agreement} {
			if e := esc(name); strings.ContainsAny(e, "{}:") || unesc(e) != name {
				t.Fatalf("esc(%q) = %q", name, e)
			}
		}
	})
}

// unesc reverses esc.
func unesc(s string) string {
	if s == "%" {
		return ""
	}
	return strings.NewReplacer("%7B", "{", "%7D", "}", "%3A", ":", "%25", "%").Replace(s)
}
