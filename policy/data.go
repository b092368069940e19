package policy

import (
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
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
	Name            string   `json:"name"`
	Owner           string   `json:"owner"`
	Category        string   `json:"category"`
	Sharing         string   `json:"sharing"`
	Grade           string   `json:"grade"`
	Classification  string   `json:"classification"`
	Format          string   `json:"format"`
	Opaque          bool     `json:"opaque"`
	Modes           []string `json:"modes"`
	UpdateFrequency string   `json:"update_frequency"`
	// Version and SizeBytes are those of the dataset a publish-mode resource publishes now.
	Version     string               `json:"version,omitempty"`
	SizeBytes   int64                `json:"size_bytes,omitempty"`
	Application string               `json:"application"`
	Fields      map[string]FieldSpec `json:"fields"`
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
	// RowsPerDay and BytesPerDay bound the volume released under the agreement per Beijing
	// day on streamed transfers (the agreement's 数量): rows cut from CSV or NDJSON, bytes
	// sent (volume.go).
	RowsPerDay  int `json:"rows_per_day,omitempty"`
	BytesPerDay int `json:"bytes_per_day,omitempty"`
}

// The vocabularies of DESIGN.md's policy contract.
var (
	categories = []string{"basic", "business"}
	sharings   = []string{"unconditional", "conditional", "none"}
	grades     = []string{"general", "important", "core"}
	modes      = []string{"query", "exchange", "publish"}
)

// mergeData decodes every data file and places its document at the file's directory, the
// way the opa command line does, so that a directory behaves the same under both. It also
// returns where each value came from. Every file is decoded, so that a load reports the
// problems of all of them at once.
func mergeData(files map[string][]byte) (map[string]any, *srcNode, error) {
	root := map[string]any{}
	rootSrc := newContainer(Pos{}, Pos{})
	errs := &dataErrs{src: rootSrc}
	for _, p := range sortedKeys(files) {
		var at dataPath
		if dir := path.Dir(p); dir != "." {
			for _, part := range strings.Split(dir, "/") {
				at = at.key(part)
			}
		}
		doc, src := decodeDocument(p, files[p], at, errs)
		if doc == nil {
			continue
		}
		if _, ok := doc.(map[string]any); !ok && len(at) == 0 {
			errs.atPos(src.where(), nil, "a data file at the top of the policy directory must hold a mapping, not %s", describeJSON(doc))
			continue
		}
		placeDocument(root, rootSrc, at, doc, src, errs)
	}
	if err := errs.err(); err != nil {
		return nil, nil, err
	}
	return root, rootSrc, nil
}

// placeDocument merges doc into root at dir; two files may not define the same key.
func placeDocument(root map[string]any, rootSrc *srcNode, dir dataPath, doc any, docSrc *srcNode, errs *dataErrs) {
	twice := func(p dataPath, here Pos) {
		errs.atPos(here, p, "defined twice: here and at %s; two files may not define the same key", rootSrc.find(p))
	}
	node, nodeSrc := root, rootSrc
	obj, isObj := doc.(map[string]any)
	for i, e := range dir {
		if i == len(dir)-1 && !isObj {
			if _, exists := node[e.key]; exists {
				twice(dir, docSrc.where())
				return
			}
			node[e.key], nodeSrc.fields[e.key] = doc, docSrc
			return
		}
		next, ok := node[e.key].(map[string]any)
		if !ok {
			if _, exists := node[e.key]; exists {
				twice(dir[:i+1], docSrc.where())
				return
			}
			next = map[string]any{}
			node[e.key], nodeSrc.fields[e.key] = next, newContainer(Pos{}, Pos{})
		}
		node, nodeSrc = next, nodeSrc.fields[e.key]
	}
	for _, k := range sortedKeys(obj) {
		if _, exists := node[k]; exists {
			twice(dir.key(k), docSrc.fields[k].where())
			continue
		}
		node[k], nodeSrc.fields[k] = obj[k], docSrc.fields[k]
	}
}

// parseData decodes the contract's documents into the typed view, refusing unknown keys
// so that a misspelt one (valid_too) is an error rather than a silently absent condition,
// then checks the documents against each other. Other top-level documents are allowed (a
// policy may read its own); only those of the contract are typed.
func parseData(root map[string]any, src *srcNode) (*Data, error) {
	errs := &dataErrs{src: src}
	shape := &shapeCheck{errs: errs}
	t := reflect.TypeFor[Data]()
	clean := map[string]any{}
	for name, ft := range jsonFields(t) {
		if v, ok := root[name]; ok {
			clean[name] = shape.check(v, ft, dataPath{}.key(name))
		}
	}
	b, err := json.Marshal(clean)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var d Data
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("data: %w", err) // the shape check lets nothing through that fails here
	}
	d.validate(func(p dataPath, format string, args ...any) {
		if !shape.refused(p) {
			errs.at(p, format, args...)
		}
	}, src.find)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return &d, nil
}

// badFunc records a problem with the value at a data path.
type badFunc func(p dataPath, format string, args ...any)

// placeFunc says where the files hold the value at a data path, for messages that name a
// second place (the first of two duplicates).
type placeFunc func(p dataPath) Pos

var (
	pathLabels      = dataPath{}.key("labels")
	pathZones       = dataPath{}.key("zones")
	pathDepartments = dataPath{}.key("departments")
	pathCatalog     = dataPath{}.key("catalog")
	pathAgreements  = dataPath{}.key("agreements")
	pathModes       = dataPath{}.key("modes")
)

// validate checks the documents against each other and reports every problem.
func (d *Data) validate(bad badFunc, place placeFunc) {
	if len(d.Labels) == 0 {
		bad(pathLabels, "no labels defined")
	}
	rank := map[string]int{}
	for i, l := range d.Labels {
		if first, dup := rank[l]; dup {
			bad(pathLabels.index(i), "%q appears twice; first at %s", l, place(pathLabels.index(first)))
			continue
		}
		rank[l] = i
	}
	label := func(p dataPath, l string) {
		switch _, ok := rank[l]; {
		case l == "":
			bad(p, "missing; a label of data.labels")
		case !ok:
			bad(p, "unknown label %q", l)
		}
	}
	for _, name := range sortedKeys(d.Zones) {
		label(pathZones.key(name).key("ceiling"), d.Zones[name].Ceiling)
	}
	for _, code := range sortedKeys(d.Departments) {
		label(pathDepartments.key(code).key("clearance"), d.Departments[code].Clearance)
	}
	for _, id := range sortedKeys(d.Catalog) {
		d.Catalog[id].validate(pathCatalog.key(id), label, d.Departments, bad, place)
	}
	d.validateModes(bad, place)
	for _, consumer := range sortedKeys(d.Agreements) {
		if _, ok := d.Departments[consumer]; !ok {
			bad(pathAgreements.key(consumer), "department not registered")
		}
		for _, res := range sortedKeys(d.Agreements[consumer]) {
			r, ok := d.Catalog[res]
			if !ok {
				bad(pathAgreements.key(consumer).key(res), "resource not in the catalog")
			}
			for i, a := range d.Agreements[consumer][res] {
				a.validate(pathAgreements.key(consumer).key(res).index(i), r, bad, place)
			}
		}
	}
	d.validateAgreementIDs(bad, place)
}

// validateAgreementIDs refuses one agreement id used for two different agreements. An id
// names one agreement (共享协议): it may stand under several consumers or resources (a
// multilateral agreement appears under each consumer it covers), but only once under one
// consumer and resource, and always with the same provider and validity, which are what
// the agreement itself fixes. A copied block whose id was not changed is caught here.
func (d *Data) validateAgreementIDs(bad badFunc, place placeFunc) {
	type use struct {
		at                 dataPath
		consumer, resource string
		a                  Agreement
	}
	first := map[string]use{}
	for _, consumer := range sortedKeys(d.Agreements) {
		for _, res := range sortedKeys(d.Agreements[consumer]) {
			for i, a := range d.Agreements[consumer][res] {
				if a.ID == "" {
					continue
				}
				here := use{pathAgreements.key(consumer).key(res).index(i).key("id"), consumer, res, a}
				there, dup := first[a.ID]
				if !dup {
					first[a.ID] = here
					continue
				}
				// Report at the later place in the files, naming the earlier one.
				if before(place(here.at), place(there.at)) {
					here, there = there, here
				}
				var why string
				switch {
				case here.consumer == there.consumer && here.resource == there.resource:
					why = "appears twice for this consumer and resource"
				case here.a.Provider != there.a.Provider:
					why = fmt.Sprintf("names two agreements: provider %s here, %s there", here.a.Provider, there.a.Provider)
				case here.a.ValidFrom != there.a.ValidFrom || here.a.ValidTo != there.a.ValidTo:
					why = fmt.Sprintf("names two agreements: valid %s to %s here, %s to %s there", here.a.ValidFrom, here.a.ValidTo, there.a.ValidFrom, there.a.ValidTo)
				default:
					continue
				}
				bad(here.at, "agreement id %q %s; first at %s (%s)", a.ID, why, place(there.at), there.at)
			}
		}
	}
}

// before reports whether a comes before b in the files.
func before(a, b Pos) bool {
	if a.File != b.File {
		return a.File < b.File
	}
	return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
}

// neverForwarded are the methods the gateway refuses whatever the policy says; a mode that
// lists one is a mistake in the data, not a permission.
var neverForwarded = []string{"TRACE", "TRACK", "CONNECT"}

// validateModes checks data.modes when the directory has it (a policy without it refuses
// every method, METHOD_NOT_ALLOWED): known modes, methods as HTTP spells them, none the
// gateway never forwards, and methods for every mode the catalog offers.
func (d *Data) validateModes(bad badFunc, place placeFunc) {
	if d.Modes == nil {
		return
	}
	for _, name := range sortedKeys(d.Modes) {
		at := pathModes.key(name)
		oneOf(at, name, modes, bad)
		ms := d.Modes[name].Methods
		if len(ms) == 0 {
			bad(at.key("methods"), "none given")
		}
		for i, m := range ms {
			switch {
			case m == "" || strings.Trim(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "":
				bad(at.key("methods").index(i), "%q is not a method in capitals (GET, POST, …)", m)
			case slices.Contains(neverForwarded, m):
				bad(at.key("methods").index(i), "%s is never forwarded by the gateway", m)
			default:
				noRepeat(at.key("methods"), ms, i, bad, place)
			}
		}
	}
	for _, id := range sortedKeys(d.Catalog) {
		for i, m := range d.Catalog[id].Modes {
			if _, ok := d.Modes[m]; !ok && slices.Contains(modes, m) {
				bad(pathCatalog.key(id).key("modes").index(i), "mode %s has no methods in data.modes", m)
			}
		}
	}
}

// noRepeat refuses list[i] when an earlier item is the same, naming the earlier one.
func noRepeat(at dataPath, list []string, i int, bad badFunc, place placeFunc) {
	if j := slices.Index(list[:i], list[i]); j >= 0 {
		bad(at.index(i), "%q appears twice; first at %s", list[i], place(at.index(j)))
	}
}

func (r Resource) validate(at dataPath, label func(dataPath, string), depts map[string]Department, bad badFunc, place placeFunc) {
	if _, ok := depts[r.Owner]; !ok {
		bad(at.key("owner"), "department %q not registered", r.Owner)
	}
	oneOf(at.key("category"), r.Category, categories, bad)
	oneOf(at.key("sharing"), r.Sharing, sharings, bad)
	oneOf(at.key("grade"), r.Grade, grades, bad)
	label(at.key("classification"), r.Classification)
	if len(r.Modes) == 0 {
		bad(at.key("modes"), "none given")
	}
	for i, m := range r.Modes {
		oneOf(at.key("modes").index(i), m, modes, bad)
		noRepeat(at.key("modes"), r.Modes, i, bad, place)
	}
	if (r.Version != "" || r.SizeBytes != 0) && !slices.Contains(r.Modes, "publish") {
		bad(at.key("version"), "a version and size are of a published dataset; modes do not include publish")
	}
	if r.SizeBytes < 0 {
		bad(at.key("size_bytes"), "%d is negative", r.SizeBytes)
	}
	for _, f := range sortedKeys(r.Fields) {
		label(at.key("fields").key(f).key("label"), r.Fields[f].Label)
		// The release stage refuses a value not of this type, so a field without one
		// could never be released; say so when the catalog is loaded.
		oneOf(at.key("fields").key(f).key("type"), r.Fields[f].Type, fieldTypes, bad)
	}
}

func (a Agreement) validate(at dataPath, r Resource, bad badFunc, place placeFunc) {
	if a.ID == "" {
		bad(at.key("id"), "missing")
	}
	from, errFrom := time.Parse(time.RFC3339, a.ValidFrom)
	to, errTo := time.Parse(time.RFC3339, a.ValidTo)
	if errFrom != nil {
		bad(at.key("valid_from"), "%q is not RFC 3339", a.ValidFrom)
	}
	if errTo != nil {
		bad(at.key("valid_to"), "%q is not RFC 3339", a.ValidTo)
	}
	if errFrom == nil && errTo == nil && !from.Before(to) {
		bad(at.key("valid_to"), "valid_from %s is not before valid_to %s", a.ValidFrom, a.ValidTo)
	}
	for i, m := range a.Modes {
		oneOf(at.key("modes").index(i), m, modes, bad)
		noRepeat(at.key("modes"), a.Modes, i, bad, place)
	}
	if len(a.Purposes) == 0 {
		bad(at.key("purposes"), "none given; an agreement states what the data is for")
	}
	for i := range a.Purposes {
		noRepeat(at.key("purposes"), a.Purposes, i, bad, place)
	}
	for i, f := range a.Fields {
		if _, ok := r.Fields[f]; !ok && r.Fields != nil {
			bad(at.key("fields").index(i), "%q is not a field of the resource", f)
		}
		noRepeat(at.key("fields"), a.Fields, i, bad, place)
	}
	for _, f := range sortedKeys(a.Mask) {
		if _, err := parseMask(a.Mask[f]); err != nil {
			bad(at.key("mask").key(f), "%v", err)
		}
	}
	if a.Quota.PerDay < 0 {
		bad(at.key("quota").key("per_day"), "negative")
	}
	if a.Quota.PerMinute < 0 {
		bad(at.key("quota").key("per_minute"), "negative")
	}
	if a.Quota.RowsPerDay < 0 {
		bad(at.key("quota").key("rows_per_day"), "negative")
	}
	if a.Quota.BytesPerDay < 0 {
		bad(at.key("quota").key("bytes_per_day"), "negative")
	}
}

func oneOf(at dataPath, v string, allowed []string, bad badFunc) {
	if !slices.Contains(allowed, v) {
		bad(at, "%q is not one of %s", v, strings.Join(allowed, ", "))
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
