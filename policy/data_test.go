package policy

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
)

func TestDataValidation(t *testing.T) {
	base := map[string]string{
		"labels.yaml":      "labels: [public, internal]\n",
		"zones.yaml":       "zones: {external: {ceiling: internal}}\n",
		"departments.yaml": "departments: {d1: {clearance: internal}}\n",
		"catalog.yaml":     "catalog: {r1: {owner: d1, category: business, sharing: conditional, grade: general, classification: internal, modes: [query], fields: {a: {type: string, label: internal}}}}\n",
		"agreements.yaml":  "agreements: {d1: {r1: [{id: A1, provider: d1, modes: [query], purposes: [p], fields: [a], valid_from: '2026-01-01T00:00:00Z', valid_to: '2027-01-01T00:00:00Z'}]}}\n",
		"p.rego":           "package govgate.authz\n\ndecision := {\"allow\": false}\n",
	}
	build := func(change map[string]string) fstest.MapFS {
		fsys := fstest.MapFS{}
		for k, v := range base {
			fsys[k] = &fstest.MapFile{Data: []byte(v)}
		}
		for k, v := range change {
			fsys[k] = &fstest.MapFile{Data: []byte(v)}
		}
		return fsys
	}
	compile := func(change map[string]string) error {
		files, err := ReadFiles(build(change))
		if err != nil {
			return err
		}
		_, err = Compile(context.Background(), files)
		return err
	}
	if err := compile(nil); err != nil {
		t.Fatalf("valid data refused: %v", err)
	}
	if err := compile(map[string]string{"modes.yaml": "modes: {query: {methods: [GET, HEAD, POST]}, publish: {methods: [GET]}}\n"}); err != nil {
		t.Fatalf("valid modes refused: %v", err)
	}
	published := map[string]string{"catalog.yaml": strings.Replace(base["catalog.yaml"], "modes: [query]", "modes: [query, publish], version: '2026-12-01', size_bytes: 1024", 1),
		"modes.yaml": "modes: {query: {methods: [GET]}, publish: {methods: [GET]}}\n"}
	if err := compile(published); err != nil {
		t.Fatalf("a published dataset's version and size refused: %v", err)
	}
	for want, change := range map[string]map[string]string{
		"data.zones.external.ceiling: unknown label":                          {"zones.yaml": "zones: {external: {ceiling: top}}\n"},
		"data.labels[1]: \"public\" appears twice; first at labels.yaml:1:10": {"labels.yaml": "labels: [public, public]\n"},
		"data.departments.d1.clearance":                                       {"departments.yaml": "departments: {d1: {clearance: x}}\n"},
		"data.catalog.r1.sharing":                                             {"catalog.yaml": strings.Replace(base["catalog.yaml"], "conditional", "sometimes", 1)},
		"data.catalog.r1.owner":                                               {"catalog.yaml": strings.Replace(base["catalog.yaml"], "owner: d1", "owner: d9", 1)},
		"data.agreements.d2: department not registered":                       {"agreements.yaml": strings.Replace(base["agreements.yaml"], "{d1:", "{d2:", 1)},
		"resource not in the catalog":                                         {"agreements.yaml": strings.Replace(base["agreements.yaml"], "{r1:", "{r2:", 1)},
		"\"b\" is not a field of the resource":                                {"agreements.yaml": strings.Replace(base["agreements.yaml"], "fields: [a]", "fields: [a, b]", 1)},
		"is not before valid_to":                                              {"agreements.yaml": strings.Replace(base["agreements.yaml"], "2027-01-01", "2025-01-01", 1)},
		"unknown key \"purpose\" in an agreement; did you mean \"purposes\"?": {"agreements.yaml": strings.Replace(base["agreements.yaml"], "purposes: [p]", "purposes: [p], purpose: p", 1)},
		"defined twice":                                                       {"more.yaml": "labels: [public]\n"},
		"no rule defines data.govgate.authz.decision":                         {"p.rego": "package govgate.other\n\nx := 1\n"},
		"list.json:1:1: a data file at the top of the policy directory must hold a mapping, not a list": {"list.json": "[1, 2]"},
		"data.modes.query.methods[1]: TRACE is never forwarded":                                         {"modes.yaml": "modes: {query: {methods: [GET, TRACE]}}\n"},
		"data.modes.query.methods[0]: \"get\" is not a method":                                          {"modes.yaml": "modes: {query: {methods: [get]}}\n"},
		"data.modes.query.methods[1]: \"GET\" appears twice":                                            {"modes.yaml": "modes: {query: {methods: [GET, GET]}}\n"},
		"data.modes.query.methods: none given":                                                          {"modes.yaml": "modes: {query: {methods: []}}\n"},
		"data.modes.search: \"search\" is not one of":                                                   {"modes.yaml": "modes: {query: {methods: [GET]}, search: {methods: [GET]}}\n"},
		"mode query has no methods in data.modes":                                                       {"modes.yaml": "modes: {publish: {methods: [GET]}}\n"},
		"unknown key \"method\" in a mode; did you mean \"methods\"?":                                   {"modes.yaml": "modes: {query: {method: [GET]}}\n"},
		"data.catalog.r1.fields.a.type: \"object\"":                                                     {"catalog.yaml": strings.Replace(base["catalog.yaml"], "type: string", "type: object", 1)},
		"data.catalog.r1.version: a version and size are of a published dataset":                        {"catalog.yaml": strings.Replace(base["catalog.yaml"], "modes: [query]", "modes: [query], version: '1'", 1)},
		"data.catalog.r1.size_bytes: -5 is negative":                                                    {"catalog.yaml": strings.Replace(base["catalog.yaml"], "modes: [query]", "modes: [publish], size_bytes: -5", 1), "modes.yaml": "modes: {publish: {methods: [GET]}}\n"},
		"data.catalog.r1.fields.a.type: \"\"":                                                           {"catalog.yaml": strings.Replace(base["catalog.yaml"], "type: string, ", "", 1)},
	} {
		err := compile(change)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error mentioning %q, got %v", want, err)
		}
	}
}

func TestReadFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"a.rego":               {Data: []byte("package x")},
		".hidden.rego":         {Data: []byte("not read")},
		".git/config.yaml":     {Data: []byte("not read")},
		"README.md":            {Data: []byte("ignored")},
		"sub/data.json":        {Data: []byte(`{"k": 1}`)},
		"sub/more.yml":         {Data: []byte(`j: 2`)},
		"sub/deep/x_test.rego": {Data: []byte("package x_test")},
	}
	f, err := ReadFiles(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Modules) != 2 || len(f.Data) != 2 {
		t.Errorf("modules %v data %v", keys(f.Modules), keys(f.Data))
	}
	id := f.ID()
	f.Data["sub/data.json"] = []byte(`{"k": 2}`)
	if f.ID() == id {
		t.Error("revision id does not cover the data")
	}
	root, _, err := mergeData(f.Data)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := root["sub"].(map[string]any)
	if sub == nil || sub["k"] == nil || sub["j"] == nil {
		t.Errorf("data placed at %v, want both under sub", root)
	}
	if _, err := ReadFiles(fstest.MapFS{"x.json": {Data: []byte("{}")}}); err == nil {
		t.Error("a directory without Rego was read")
	}
}

func keys[V any](m map[string]V) []string { return sortedKeys(m) }

func TestFormat(t *testing.T) {
	files := &Files{Modules: map[string][]byte{
		"good.rego": []byte("package x\n\nallow if input.a == 1\n"),
		"bad.rego":  []byte("package   y\nallow   if {input.a==1}\n"),
	}}
	changed, err := Format(files)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 1 || changed["bad.rego"] == nil {
		t.Fatalf("changed %v", keys(changed))
	}
	if got := string(changed["bad.rego"]); !strings.Contains(got, "package y\n") || !strings.Contains(got, "input.a == 1") {
		t.Errorf("formatted:\n%s", got)
	}
	if _, err := Format(&Files{Modules: map[string][]byte{"broken.rego": []byte("package")}}); err == nil {
		t.Error("a broken module was formatted")
	}
}
