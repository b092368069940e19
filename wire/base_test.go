package wire

import (
	"errors"
	"strings"
	"testing"

	"github.com/dunglas/httpsfv"
)

// params covers components with fixed parameters, as SignRequest writes them.
func params(components ...string) httpsfv.InnerList {
	items := make([]httpsfv.Item, len(components))
	for i, c := range components {
		items[i] = httpsfv.NewItem(c)
	}
	p := httpsfv.NewParams()
	p.Add("created", int64(1700000000))
	p.Add("nonce", "bm9uY2UtMQ")
	p.Add("keyid", "1a2b3c")
	p.Add("alg", SignatureAlgorithm)
	return httpsfv.InnerList{Items: items, Params: p}
}

func headers(fields map[string][]string) func(string) []string {
	return func(name string) []string { return append([]string(nil), fields[name]...) }
}

// TestSignatureBaseGolden fixes the bytes a govgate signature signs, written out by hand
// from RFC 9421 §2.5: one line per covered component, `"name": value`, in the order
// covered; @authority in lower case; @query with its '?'; a field's values trimmed and
// joined by ", "; then the @signature-params line as Signature-Input serialises the
// inner list; no newline at the end.
func TestSignatureBaseGolden(t *testing.T) {
	m := RequestMessage("POST", "GW.Example:8443", "/tax/v1/taxpayers?id=1&x=%20", headers(map[string][]string{
		FieldContentDigest: {"sm3=:ZGlnZXN0:"},
		FieldAgreement:     {"  AGR-1 "},
		FieldPurpose:       {"check"},
	}))
	got, err := SignatureBase(m, params(CoversFor(m)...))
	if err != nil {
		t.Fatal(err)
	}
	want := `"@method": POST
"@authority": gw.example:8443
"@path": /tax/v1/taxpayers
"@query": ?id=1&x=%20
"content-digest": sm3=:ZGlnZXN0:
"x-govgate-agreement": AGR-1
"x-govgate-purpose": check
"@signature-params": ("@method" "@authority" "@path" "@query" "content-digest" "x-govgate-agreement" "x-govgate-purpose");created=1700000000;nonce="bm9uY2UtMQ";keyid="1a2b3c";alg="sm2-sm3"`
	if got != want {
		t.Fatalf("signature base:\n%s\nwant:\n%s", got, want)
	}

	// Without declarations (basic information needs no agreement): the five required
	// components, and an empty query still signed as "?".
	m = RequestMessage("GET", "gw.example", "/", headers(map[string][]string{FieldContentDigest: {"sm3=:ZGlnZXN0:"}}))
	got, err = SignatureBase(m, params(CoversFor(m)...))
	if err != nil {
		t.Fatal(err)
	}
	want = `"@method": GET
"@authority": gw.example
"@path": /
"@query": ?
"content-digest": sm3=:ZGlnZXN0:
"@signature-params": ("@method" "@authority" "@path" "@query" "content-digest");created=1700000000;nonce="bm9uY2UtMQ";keyid="1a2b3c";alg="sm2-sm3"`
	if got != want {
		t.Fatalf("signature base:\n%s\nwant:\n%s", got, want)
	}
}

// TestSignatureBaseRefuses: what a sloppy or hostile signer could make the base say
// otherwise — a covered field the request lacks read as empty, a component counted twice,
// a field named in upper case, component parameters that change what a line means.
func TestSignatureBaseRefuses(t *testing.T) {
	m := RequestMessage("GET", "gw", "/p", headers(map[string][]string{FieldContentDigest: {"d"}}))
	var absent *AbsentError
	if _, err := SignatureBase(m, params(FieldAgreement)); !errors.As(err, &absent) || absent.Name != FieldAgreement {
		t.Errorf("covering an absent declaration: %v, want AbsentError", err)
	}
	for _, il := range []httpsfv.InnerList{
		params("@method", "@method"),
		params("Content-Digest"),
		params("@query-param"),
	} {
		if _, err := SignatureBase(m, il); err == nil {
			t.Errorf("%v: no error", il.Items)
		}
	}
	withParam := params("@method")
	p := httpsfv.NewParams()
	p.Add("name", "x")
	withParam.Items[0].Params = p
	if _, err := SignatureBase(m, withParam); err == nil || !strings.Contains(err.Error(), "parameters") {
		t.Errorf("component parameters: %v", err)
	}
	if got := CoversFor(m); strings.Join(got, " ") != strings.Join(RequiredComponents, " ") {
		t.Errorf("CoversFor without declarations: %v", got)
	}
}

// TestRequestMessageTargets: the path and query signed are the target's as sent, in
// origin or absolute form; scheme https, since signed requests travel over TLCP.
func TestRequestMessageTargets(t *testing.T) {
	for _, c := range []struct{ target, path, query string }{
		{"/a/b?x=1&y=%2F", "/a/b", "x=1&y=%2F"},
		{"/a/b?", "/a/b", ""},
		{"/a/b", "/a/b", ""},
		{"", "/", ""},
		{"/a?b?c", "/a", "b?c"},
		{"https://gw.example:8443/a/b?x=1", "/a/b", "x=1"},
		{"https://gw.example/a#frag", "/a", ""},
		{"https://gw.example", "https://gw.example", ""}, // no path: kept, and it matches no route
		{"/a%3Fb", "/a%3Fb", ""},                         // an escaped '?' is part of the path
	} {
		m := RequestMessage("GET", "gw", c.target, nil)
		if m.Path != c.path || m.Query != c.query || m.Scheme != "https" {
			t.Errorf("%q: path %q query %q scheme %q, want %q %q https", c.target, m.Path, m.Query, m.Scheme, c.path, c.query)
		}
	}
}
