package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Data is the typed view of the documents security officers edit, as DESIGN.md's policy
// contract describes them. The Rego reads the same documents; the gateway reads this view
// for what it applies itself (labels, opaque resources, validity boundaries), and loading
// it is where a typo in the data is caught before it can change a decision.
type Data struct {
	Labels      []string                          `json:"labels"`
	Zones       map[string]Zone                   `json:"zones"`
	Departments map[string]Department             `json:"departments"`
	Catalog     map[string]Resource               `json:"catalog"`
	Agreements  map[string]map[string][]Agreement `json:"agreements"`
	Modes       map[string]ModeSpec               `json:"modes"`
}

// ModeSpec is what one sharing mode allows: the HTTP methods a request under it may use.
type ModeSpec struct {
	Methods []string `json:"methods"`
}

// Zone is a network zone and the highest label that may enter it.
type Zone struct {
	Name    string `json:"name"`
	Ceiling string `json:"ceiling"`
}

// Department is a registered department and the highest label it is cleared to receive.
type Department struct {
	Name      string `json:"name"`
	Clearance string `json:"clearance"`
}

// Resource is one entry of the sharing catalog (共享信息目录).
type Resource struct {
	Name            string               `json:"name"`
	Owner           string               `json:"owner"`
	Category        string               `json:"category"`
	Sharing         string               `json:"sharing"`
	Grade           string               `json:"grade"`
	Classification  string               `json:"classification"`
	Format          string               `json:"format"`
	Opaque          bool                 `json:"opaque"`
	Modes           []string             `json:"modes"`
	UpdateFrequency string               `json:"update_frequency"`
	Application     string               `json:"application"`
	Fields          map[string]FieldSpec `json:"fields"`
}

// FieldSpec describes one field of a resource.
type FieldSpec struct {
	Type  string `json:"type"`
	Label string `json:"label"`
}

// Agreement is a sharing agreement (共享协议) as held by one consumer for one resource.
type Agreement struct {
	ID               string            `json:"id"`
	Provider         string            `json:"provider"`
	Modes            []string          `json:"modes"`
	Purposes         []string          `json:"purposes"`
	Fields           []string          `json:"fields"`
	ValidFrom        string            `json:"valid_from"`
	ValidTo          string            `json:"valid_to"`
	Quota            Quota             `json:"quota"`
	Mask             map[string]string `json:"mask"`
	UpdateFrequency  string            `json:"update_frequency"`
	LegalBasis       string            `json:"legal_basis"`
	RequireSignature bool              `json:"require_signature"`
}

// Quota bounds how many requests a consumer makes under one agreement.
type Quota struct {
	PerDay    int `json:"per_day,omitempty"`
	PerMinute int `json:"per_minute,omitempty"`
}

// The vocabularies of DESIGN.md's policy contract.
var (
	categories = []string{"basic", "business"}
	sharings   = []string{"unconditional", "conditional", "none"}
	grades     = []string{"general", "important", "core"}
	modes      = []string{"query", "exchange", "publish"}
)

// mergeData decodes every data file and places its document at the file's directory, the
// way the opa command line does, so that a directory behaves the same under both.
func mergeData(files map[string][]byte) (map[string]any, error) {
	root := map[string]any{}
	for _, p := range sortedKeys(files) {
		doc, err := decodeDocument(p, files[p])
		if err != nil {
			return nil, err
		}
		if doc == nil {
			continue
		}
		dir := path.Dir(p)
		if _, ok := doc.(map[string]any); !ok && dir == "." {
			return nil, fmt.Errorf("%s: a data file at the top of the policy directory must hold an object", p)
		}
		if err := placeDocument(root, dir, doc); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return root, nil
}

func decodeDocument(p string, b []byte) (any, error) {
	var doc any
	if path.Ext(p) == ".json" {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return doc, nil
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	// A JSON round trip turns YAML's Go values into the JSON model OPA's data lives in, and
	// refuses what JSON cannot say (non-string keys).
	j, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	doc = nil
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return doc, nil
}

// placeDocument merges doc into root at dir; two files may not define the same key.
func placeDocument(root map[string]any, dir string, doc any) error {
	node := root
	var parts []string
	if dir != "." {
		parts = strings.Split(dir, "/")
	}
	for i, part := range parts {
		if i == len(parts)-1 {
			if _, ok := doc.(map[string]any); !ok {
				if _, exists := node[part]; exists {
					return fmt.Errorf("data.%s is defined twice", strings.Join(parts, "."))
				}
				node[part] = doc
				return nil
			}
		}
		next, ok := node[part].(map[string]any)
		if !ok {
			if _, exists := node[part]; exists {
				return fmt.Errorf("data.%s is defined twice", strings.Join(parts[:i+1], "."))
			}
			next = map[string]any{}
			node[part] = next
		}
		node = next
	}
	for k, v := range doc.(map[string]any) {
		if _, exists := node[k]; exists {
			return fmt.Errorf("data.%s is defined twice", strings.Join(append(parts, k), "."))
		}
		node[k] = v
	}
	return nil
}

// parseData decodes the merged documents into the typed view, refusing unknown fields so
// that a misspelt key (valid_too) is an error rather than a silently absent condition.
func parseData(root map[string]any) (*Data, error) {
	b, err := json.Marshal(root)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d Data
	if err := dec.Decode(&d); err != nil {
		// Other top-level documents are allowed (a policy may read its own); only the five
		// of the contract are typed, so decode those alone when the whole fails on an
		// unknown top-level key.
		var top map[string]json.RawMessage
		if json.Unmarshal(b, &top) != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		if err := decodeContractDocs(top, &d); err != nil {
			return nil, err
		}
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

func decodeContractDocs(top map[string]json.RawMessage, d *Data) error {
	targets := map[string]any{
		"labels": &d.Labels, "zones": &d.Zones, "departments": &d.Departments,
		"catalog": &d.Catalog, "agreements": &d.Agreements, "modes": &d.Modes,
	}
	for _, name := range sortedKeys(targets) {
		raw, ok := top[name]
		if !ok {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(targets[name]); err != nil {
			return fmt.Errorf("data.%s: %w", name, err)
		}
	}
	return nil
}

// validate checks the documents against each other and reports every problem at once.
func (d *Data) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(d.Labels) == 0 {
		bad("data.labels: no labels defined")
	}
	rank := map[string]int{}
	for i, l := range d.Labels {
		if _, dup := rank[l]; dup {
			bad("data.labels: %q appears twice", l)
		}
		rank[l] = i
	}
	known := func(label string) bool { _, ok := rank[label]; return ok }
	for _, name := range sortedKeys(d.Zones) {
		if !known(d.Zones[name].Ceiling) {
			bad("data.zones.%s.ceiling: unknown label %q", name, d.Zones[name].Ceiling)
		}
	}
	for _, code := range sortedKeys(d.Departments) {
		if !known(d.Departments[code].Clearance) {
			bad("data.departments.%s.clearance: unknown label %q", code, d.Departments[code].Clearance)
		}
	}
	for _, id := range sortedKeys(d.Catalog) {
		d.Catalog[id].validate(id, known, d.Departments, bad)
	}
	d.validateModes(bad)
	for _, consumer := range sortedKeys(d.Agreements) {
		if _, ok := d.Departments[consumer]; !ok {
			bad("data.agreements.%s: department not registered", consumer)
		}
		for _, res := range sortedKeys(d.Agreements[consumer]) {
			r, ok := d.Catalog[res]
			if !ok {
				bad("data.agreements.%s.%s: resource not in the catalog", consumer, res)
			}
			for i, a := range d.Agreements[consumer][res] {
				a.validate(fmt.Sprintf("data.agreements.%s.%s[%d]", consumer, res, i), r, bad)
			}
		}
	}
	return errors.Join(errs...)
}

// neverForwarded are the methods the gateway refuses whatever the policy says; a mode that
// lists one is a mistake in the data, not a permission.
var neverForwarded = []string{"TRACE", "TRACK", "CONNECT"}

// validateModes checks data.modes when the directory has it (a policy without it refuses
// every method, METHOD_NOT_ALLOWED): known modes, methods as HTTP spells them, none the
// gateway never forwards, and methods for every mode the catalog offers.
func (d *Data) validateModes(bad func(string, ...any)) {
	if d.Modes == nil {
		return
	}
	for _, name := range sortedKeys(d.Modes) {
		at := "data.modes." + name
		oneOf(at, name, modes, bad)
		ms := d.Modes[name].Methods
		if len(ms) == 0 {
			bad("%s.methods: none given", at)
		}
		for i, m := range ms {
			switch {
			case m == "" || strings.Trim(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "":
				bad("%s.methods: %q is not a method in capitals (GET, POST, …)", at, m)
			case slices.Contains(neverForwarded, m):
				bad("%s.methods: %s is never forwarded by the gateway", at, m)
			case slices.Contains(ms[:i], m):
				bad("%s.methods: %s appears twice", at, m)
			}
		}
	}
	for _, id := range sortedKeys(d.Catalog) {
		for _, m := range d.Catalog[id].Modes {
			if _, ok := d.Modes[m]; !ok && slices.Contains(modes, m) {
				bad("data.catalog.%s.modes: mode %s has no methods in data.modes", id, m)
			}
		}
	}
}

func (r Resource) validate(id string, known func(string) bool, depts map[string]Department, bad func(string, ...any)) {
	at := "data.catalog." + id
	if _, ok := depts[r.Owner]; !ok {
		bad("%s.owner: department %q not registered", at, r.Owner)
	}
	oneOf(at+".category", r.Category, categories, bad)
	oneOf(at+".sharing", r.Sharing, sharings, bad)
	oneOf(at+".grade", r.Grade, grades, bad)
	if !known(r.Classification) {
		bad("%s.classification: unknown label %q", at, r.Classification)
	}
	if len(r.Modes) == 0 {
		bad("%s.modes: none given", at)
	}
	for _, m := range r.Modes {
		oneOf(at+".modes", m, modes, bad)
	}
	for _, f := range sortedKeys(r.Fields) {
		if !known(r.Fields[f].Label) {
			bad("%s.fields.%s.label: unknown label %q", at, f, r.Fields[f].Label)
		}
		// The release stage refuses a value not of this type, so a field without one
		// could never be released; say so when the catalog is loaded.
		oneOf(at+".fields."+f+".type", r.Fields[f].Type, fieldTypes, bad)
	}
}

func (a Agreement) validate(at string, r Resource, bad func(string, ...any)) {
	if a.ID == "" {
		bad("%s.id: missing", at)
	}
	from, errFrom := time.Parse(time.RFC3339, a.ValidFrom)
	to, errTo := time.Parse(time.RFC3339, a.ValidTo)
	if errFrom != nil {
		bad("%s.valid_from: %q is not RFC 3339", at, a.ValidFrom)
	}
	if errTo != nil {
		bad("%s.valid_to: %q is not RFC 3339", at, a.ValidTo)
	}
	if errFrom == nil && errTo == nil && !from.Before(to) {
		bad("%s: valid_from %s is not before valid_to %s", at, a.ValidFrom, a.ValidTo)
	}
	for _, m := range a.Modes {
		oneOf(at+".modes", m, modes, bad)
	}
	if len(a.Purposes) == 0 {
		bad("%s.purposes: none given; an agreement states what the data is for", at)
	}
	for _, f := range a.Fields {
		if _, ok := r.Fields[f]; !ok && r.Fields != nil {
			bad("%s.fields: %q is not a field of the resource", at, f)
		}
	}
	for f, rule := range a.Mask {
		if _, err := parseMask(rule); err != nil {
			bad("%s.mask.%s: %v", at, f, err)
		}
	}
	if a.Quota.PerDay < 0 || a.Quota.PerMinute < 0 {
		bad("%s.quota: negative", at)
	}
}

func oneOf(at, v string, allowed []string, bad func(string, ...any)) {
	if !slices.Contains(allowed, v) {
		bad("%s: %q is not one of %s", at, v, strings.Join(allowed, ", "))
	}
}

// boundaries lists, in order, every instant at which one of the agreements starts or ends:
// the moments at which a decision resting on them can change.
func boundaries(as []Agreement) []time.Time {
	var out []time.Time
	for _, a := range as {
		for _, s := range []string{a.ValidFrom, a.ValidTo} {
			if t, err := time.Parse(time.RFC3339, s); err == nil {
				out = append(out, t)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}
