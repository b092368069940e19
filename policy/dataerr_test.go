package policy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// officerData is a small policy directory written as officers write it: block YAML, one
// document per file, so that every line and column in the messages below can be counted.
var officerData = map[string]string{
	"labels.yaml": `labels:
  - public
  - internal
`,
	"zones.yaml": `zones:
  external:
    ceiling: internal
`,
	"departments.yaml": `departments:
  d1:
    clearance: internal
  d2:
    clearance: public
`,
	"catalog.yaml": `catalog:
  population.basic:
    owner: d1
    category: basic
    sharing: conditional
    grade: general
    classification: internal
    modes: [query]
    fields:
      name: {type: string, label: internal}
`,
	"agreements.yaml": `agreements:
  d2:
    population.basic:
      - id: A1
        provider: d1
        modes: [query]
        purposes: [p]
        valid_from: "2026-01-01T00:00:00Z"
        valid_to: "2027-01-01T00:00:00Z"
`,
	"p.rego": "package govgate.authz\n\ndecision := {\"allow\": false}\n",
}

// compileDir writes officerData with the given files replaced (an empty value removes the
// file) into a real directory, reads it as the engine does and compiles it.
func compileDir(t *testing.T, change map[string]string) error {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{}
	for k, v := range officerData {
		files[k] = v
	}
	for k, v := range change {
		files[k] = v
	}
	for name, body := range files {
		if body == "" {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := ReadFiles(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compile(context.Background(), f)
	return err
}

func replaced(t *testing.T, file, old, new string) map[string]string {
	t.Helper()
	if strings.Count(officerData[file], old) != 1 {
		t.Fatalf("%s: %q is not in it once", file, old)
	}
	return map[string]string{file: strings.Replace(officerData[file], old, new, 1)}
}

// TestDataErrorsNameTheirPlace: every problem in the data is reported at the file, line
// and column of the offending value, with its data path, in the file's own terms.
func TestDataErrorsNameTheirPlace(t *testing.T) {
	if err := compileDir(t, nil); err != nil {
		t.Fatalf("valid data refused: %v", err)
	}
	cases := []struct {
		name   string
		change map[string]string
		want   string
	}{
		{"unknown label", replaced(t, "catalog.yaml", "classification: internal", "classification: topsecret"),
			`catalog.yaml:7:21: data.catalog.population.basic.classification: unknown label "topsecret"`},
		{"misspelt key in YAML", replaced(t, "catalog.yaml", "    fields:\n", "    fileds:\n"),
			`catalog.yaml:9:5: data.catalog.population.basic.fileds: unknown key "fileds" in a catalog resource; did you mean "fields"?`},
		{"unknown key, nothing close", replaced(t, "departments.yaml", "  d2:\n", "  d2:\n    colour: red\n"),
			`departments.yaml:5:5: data.departments.d2.colour: unknown key "colour" in a department (its keys: clearance, name)`},
		// yaml.v3 reported this one at line 1, the start of the enclosing mapping.
		{"indentation error on line 5", map[string]string{"departments.yaml": "departments:\n  d1:\n    clearance: internal\n    name: one\n   d2: {clearance: public}\n"},
			`departments.yaml:5:4: yaml: did not find expected key (while parsing a block mapping at line 2)`},
		{"tab in indentation", replaced(t, "zones.yaml", "    ceiling", "\tceiling"),
			`zones.yaml:3:1: yaml: found character that cannot start any token`},
		{"a number where a string belongs", replaced(t, "departments.yaml", "clearance: public", "clearance: 3"),
			`departments.yaml:5:16: data.departments.d2.clearance: want a string, got the number 3`},
		{"a string where a number belongs", replaced(t, "agreements.yaml", "        modes: [query]\n", "        modes: [query]\n        quota: {per_day: ten}\n"),
			`agreements.yaml:7:26: data.agreements.d2.population.basic[0].quota.per_day: want a whole number, got the string "ten"`},
		{"a list item of the wrong type", replaced(t, "catalog.yaml", "modes: [query]", "modes: [query, {x: 1}]"),
			`catalog.yaml:8:20: data.catalog.population.basic.modes[1]: want a string, got a mapping`},
		{"missing id", replaced(t, "agreements.yaml", "      - id: A1\n        provider: d1", "      - provider: d1"),
			`agreements.yaml:4:9: data.agreements.d2.population.basic[0].id: missing`},
		{"non-string key", replaced(t, "departments.yaml", "  d2:", "  2:"),
			`departments.yaml:4:3: data.departments: key 2 (a number) is not a string; quote it ("2") if it is meant as a name`},
		{"a second YAML document", map[string]string{"zones.yaml": officerData["zones.yaml"] + "---\nzones: {}\n"},
			`zones.yaml:4:1: a second YAML document (---) in one data file; put it in a file of its own`},
		{"not a number JSON can hold", replaced(t, "agreements.yaml", "        modes: [query]\n", "        modes: [query]\n        quota: {per_day: .inf}\n"),
			`agreements.yaml:7:26: data.agreements.d2.population.basic[0].quota.per_day: .inf is not a number JSON can hold`},
	}
	for _, c := range cases {
		err := compileDir(t, c.change)
		if want := "policy data: " + c.want; err == nil || err.Error() != want {
			t.Errorf("%s:\n got %v\nwant %s", c.name, err, want)
		}
	}
}

// TestDataDuplicatesNameBothPlaces: an entry that must be unique and is not is refused at
// the second place, naming the first.
func TestDataDuplicatesNameBothPlaces(t *testing.T) {
	second := `      - id: A1
        provider: d1
        modes: [query]
        purposes: [q]
        valid_from: "2026-01-01T00:00:00Z"
        valid_to: "2027-01-01T00:00:00Z"
`
	cases := []struct {
		name   string
		change map[string]string
		want   string
	}{
		{"agreement id twice for one consumer and resource",
			map[string]string{"agreements.yaml": officerData["agreements.yaml"] + second},
			`agreements.yaml:10:13: data.agreements.d2.population.basic[1].id: agreement id "A1" appears twice for this consumer and resource; first at agreements.yaml:4:13 (data.agreements.d2.population.basic[0].id)`},
		{"agreement id for two providers",
			map[string]string{"agreements.yaml": officerData["agreements.yaml"] + "  d1:\n    population.basic:\n" + strings.Replace(second, "provider: d1", "provider: d2", 1)},
			`agreements.yaml:12:13: data.agreements.d1.population.basic[0].id: agreement id "A1" names two agreements: provider d2 here, d1 there; first at agreements.yaml:4:13 (data.agreements.d2.population.basic[0].id)`},
		{"agreement id for two validity periods",
			map[string]string{"agreements.yaml": officerData["agreements.yaml"] + "  d1:\n    population.basic:\n" + strings.Replace(second, "2027-01-01", "2028-01-01", 1)},
			`agreements.yaml:12:13: data.agreements.d1.population.basic[0].id: agreement id "A1" names two agreements: valid 2026-01-01T00:00:00Z to 2028-01-01T00:00:00Z here, 2026-01-01T00:00:00Z to 2027-01-01T00:00:00Z there; first at agreements.yaml:4:13 (data.agreements.d2.population.basic[0].id)`},
		{"department twice in one file", replaced(t, "departments.yaml", "  d2:", "  d1:"),
			`departments.yaml:4:3: data.departments.d1: key "d1" appears twice in this mapping; first at line 2`},
		{"catalog resource twice in one JSON file", map[string]string{"catalog.yaml": "", "catalog.json": `{"catalog": {
  "population.basic": {"owner": "d1", "category": "basic", "sharing": "conditional", "grade": "general",
    "classification": "internal", "modes": ["query"], "fields": {"name": {"type": "string", "label": "internal"}}},
  "population.basic": {}
}}`},
			`catalog.json:4:3: data.catalog.population.basic: key "population.basic" appears twice in this object; first at line 2`},
		{"a document in two files", map[string]string{"more/../departments2.yaml": "departments:\n  d3: {clearance: public}\n"},
			`departments2.yaml:1:1: data.departments: defined twice: here and at departments.yaml:1:1; two files may not define the same key`},
		{"label twice", replaced(t, "labels.yaml", "  - internal\n", "  - internal\n  - public\n"),
			`labels.yaml:4:5: data.labels[2]: "public" appears twice; first at labels.yaml:2:5`},
		{"mode twice in an agreement", replaced(t, "agreements.yaml", "modes: [query]", "modes: [query, query]"),
			`agreements.yaml:6:24: data.agreements.d2.population.basic[0].modes[1]: "query" appears twice; first at agreements.yaml:6:17`},
	}
	for _, c := range cases {
		err := compileDir(t, c.change)
		if want := "policy data: " + c.want; err == nil || err.Error() != want {
			t.Errorf("%s:\n got %v\nwant %s", c.name, err, want)
		}
	}
	// A multilateral agreement stands under each consumer it covers, with one provider
	// and one validity: accepted.
	multi := officerData["agreements.yaml"] + "  d1:\n    population.basic:\n" + second
	if err := compileDir(t, map[string]string{"agreements.yaml": multi}); err != nil {
		t.Errorf("a multilateral agreement was refused: %v", err)
	}
}

// TestDataErrorsAllAtOnce: one load reports every problem of every file, in file order,
// and bounds a long list with a count.
func TestDataErrorsAllAtOnce(t *testing.T) {
	change := replaced(t, "catalog.yaml", "classification: internal", "classification: topsecret")
	change["departments.yaml"] = strings.Replace(officerData["departments.yaml"], "clearance: public", "clearance: secret", 1)
	change["zones.json"] = "{\"zones\": {\"internet\": {\"ceiling\": \"public\"},\n  \"x\": {\"ceilin\": \"public\"}}}"
	change["zones.yaml"] = ""
	err := compileDir(t, change)
	want := `policy data: 4 errors
catalog.yaml:7:21: data.catalog.population.basic.classification: unknown label "topsecret"
departments.yaml:5:16: data.departments.d2.clearance: unknown label "secret"
zones.json:2:3: data.zones.x.ceiling: missing; a label of data.labels
zones.json:2:9: data.zones.x.ceilin: unknown key "ceilin" in a zone; did you mean "ceiling"?`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}

	var many strings.Builder
	many.WriteString("departments:\n")
	for i := range 60 {
		fmt.Fprintf(&many, "  d%02d: {clearance: x%d}\n", i+10, i)
	}
	many.WriteString("  d1: {clearance: internal}\n  d2: {clearance: public}\n")
	err = compileDir(t, map[string]string{"departments.yaml": many.String()})
	if err == nil {
		t.Fatal("60 bad labels accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 52 || lines[0] != "policy data: 60 errors" || lines[51] != "… and 10 more" ||
		lines[1] != `departments.yaml:2:20: data.departments.d10.clearance: unknown label "x0"` {
		t.Errorf("a long list: %d lines, first %q, last %q", len(lines), lines[:2], lines[len(lines)-1])
	}
}

// TestDataJSONErrors: JSON files get the same places, for syntax errors too.
func TestDataJSONErrors(t *testing.T) {
	cases := []struct{ body, want string }{
		{"{\"zones\": {\n  \"x\": {\"ceiling\": \"public\",}\n}}", `zones.json:2:29: data.zones.x: json: invalid character '}' looking for beginning of object key string`},
		{"{\"zones\": {}}\n{\"more\": 1}", `zones.json:2:1: a second JSON value after the first; a data file holds one`},
		{"{\"zones\": {\"x\": ", `zones.json:1:17: data.zones.x: json: unexpected end of file`},
		{"{\"zones\": {\"x\": {\"ceiling\": 7}}}", `zones.json:1:29: data.zones.x.ceiling: want a string, got the number 7`},
	}
	for _, c := range cases {
		err := compileDir(t, map[string]string{"zones.yaml": "", "zones.json": c.body})
		if want := "policy data: " + c.want; err == nil || err.Error() != want {
			t.Errorf("%q:\n got %v\nwant %s", c.body, err, want)
		}
	}
}

// TestDataAliasBomb: anchors that expand to billions of values are refused, not expanded.
func TestDataAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("bomb:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "  a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	err := compileDir(t, map[string]string{"bomb.yaml": b.String()})
	if err == nil || !strings.Contains(err.Error(), "aliases expand to more values than a data file may hold") || !strings.HasPrefix(err.Error(), "policy data: bomb.yaml:") {
		t.Errorf("alias bomb: %v", err)
	}
}

// TestDataSelfReferenceAndDepth: an anchor that contains its own alias, and nesting past
// any real policy's depth, are refused quickly rather than expanded.
func TestDataSelfReferenceAndDepth(t *testing.T) {
	cases := map[string]string{
		"loop.yaml": "a: &x [1, *x]\n",
		"deep.yaml": "a: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n",
		"deep.json": `{"a": ` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "}",
		"key.yaml":  "? [1, 2]\n: x\n",
	}
	want := map[string]string{
		"loop.yaml": "policy data: loop.yaml:1:11: data.a[1]: alias *x refers to a value that contains it",
		"deep.yaml": "policy data: deep.yaml:1:104: nested more than 100 levels deep",
		"deep.json": "policy data: deep.json:1:107: nested more than 100 levels deep",
		"key.yaml":  "policy data: key.yaml:1:3: a key must be a string, not a list",
	}
	for name, body := range cases {
		err := compileDir(t, map[string]string{name: body})
		if err == nil || err.Error() != want[name] {
			t.Errorf("%s:\n got %v\nwant %s", name, err, want[name])
		}
	}
}
