package gateway

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
)

// FuzzAmbiguousPath checks the promise the router relies on: a raw path that is not
// refused decodes to a path with no dot segments, no empty segments and no backslashes,
// so the gateway and any provider read it the same way.
func FuzzAmbiguousPath(f *testing.F) {
	for _, s := range []string{"/a/b", "/a/../b", "/a/%2e%2e/b", "/a%2fb", "//a", "/a\\b", "/%41", "/a/./", "/%", "/%zz", "http://h/a/b?x", "/a?b/../c",
		"/a/..;/b", "/a/..%3b/b", "/a/%c0%ae%c0%ae/b", "/a/%EF%BC%8E%EF%BC%8E/b", "/a/..%09/b", "/a/.../b", "/a/%E4%B8%AD"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p := RawPath(raw)
		if p == nil || ambiguousPath(p) {
			return
		}
		dec, err := url.PathUnescape(string(p))
		if err != nil {
			t.Fatalf("accepted %q, which does not decode: %v", p, err)
		}
		if strings.ContainsAny(dec, "\\;") || strings.Contains(dec, "//") || strings.ContainsRune(dec, 0) {
			t.Fatalf("accepted %q, decoded %q", p, dec)
		}
		for _, seg := range strings.Split(dec, "/")[1:] {
			if seg == "." || seg == ".." || strings.HasSuffix(seg, ".") {
				t.Fatalf("accepted %q with dot segment, decoded %q", p, dec)
			}
		}
		if bytes.ContainsAny(p, "?#") {
			t.Fatalf("rawPath kept the query or fragment: %q", p)
		}
	})
}

// FuzzParseConfig throws arbitrary YAML at the config loader: it must return a config or
// an error, never panic, and a config it returns must validate.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(validYAML))
	f.Add([]byte("gateway_id: x\nlisteners: [{address: ':0', zone: internal, transport: plain}]"))
	f.Add([]byte("routes: [{id: a, path_prefix: /a}, {id: a, path_prefix: /a/b}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("ParseConfig returned a config that does not validate: %v", err)
		}
	})
}
