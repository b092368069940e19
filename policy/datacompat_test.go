package policy

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"path"
	"reflect"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"

	shipped "github.com/govgate/govgate/rego"
)

// decodeV3 is how data files were decoded before positions were kept: yaml.v3 into Go
// values, then a JSON round trip into OPA's data model.
func decodeV3(t *testing.T, b []byte) any {
	t.Helper()
	var doc any
	if err := yamlv3.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	doc = nil
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestDecoderKeepsTheDataAsBefore: the position-keeping decoder gives every shipped data
// file, and the scalar forms officers write, exactly the values the policy saw before it.
func TestDecoderKeepsTheDataAsBefore(t *testing.T) {
	sources := map[string][]byte{
		"scalars.yaml": []byte(`a: 1
b: 2026-01-01
c: "2026-01-01T00:00:00+08:00"
d: 2026-01-01T00:00:00+08:00
e: yes
f: 1.5
g: ~
h: 0x1F
i: 1e3
j: -0
k: true
l: 12345678901234567890
m: |
  two
  lines
n: &anchor {x: 1, y: [a, b]}
o: *anchor
p:
  <<: *anchor
  x: 2
q: '007'
r: 1_000
`),
	}
	err := fs.WalkDir(shipped.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (path.Ext(p) != ".yaml" && path.Ext(p) != ".yml") {
			return err
		}
		b, err := fs.ReadFile(shipped.FS(), p)
		sources[p] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range sources {
		errs := &dataErrs{}
		got, _ := decodeDocument(name, b, nil, errs)
		if err := errs.err(); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if want := decodeV3(t, b); !reflect.DeepEqual(got, want) {
			t.Errorf("%s decodes differently:\n got %#v\nwant %#v", name, got, want)
		}
	}
}

// TestJSONDecoderKeepsTheDataAsBefore: the token-by-token JSON decoder gives what
// encoding/json with UseNumber gave.
func TestJSONDecoderKeepsTheDataAsBefore(t *testing.T) {
	b := []byte(`{"a": [1, 2.5, -0, 1e400, "x\u00e9\n"], "b": {"c": null, "d": true, "e": {}}, "f": [], "g": "\ud83d\ude00"}`)
	errs := &dataErrs{}
	got, _ := decodeDocument("x.json", b, nil, errs)
	if err := errs.err(); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var want any
	if err := dec.Decode(&want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
}
