package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v4"
)

// decodeDocument decodes one data file into the JSON model OPA's data lives in (objects
// with string keys, arrays, strings, json.Number, booleans, null), and records where each
// value stands. Problems are added to errs with their place; the document is nil then.
func decodeDocument(file string, b []byte, at dataPath, errs *dataErrs) (any, *srcNode) {
	if path.Ext(file) == ".json" {
		return decodeJSON(file, b, at, errs)
	}
	return decodeYAML(file, b, at, errs)
}

// decodeYAML parses with go.yaml.in/yaml/v4 rather than v3: v3's syntax errors give the
// line where the enclosing block began (a mapping opened on line 3 for a bad indentation
// on line 5), v4's LoadError carries the line and column of the problem itself.
func decodeYAML(file string, b []byte, at dataPath, errs *dataErrs) (any, *srcNode) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // an empty file, or only comments
		}
		errs.atPos(yamlErrorPos(file, err), nil, "%s", yamlErrorMessage(err))
		return nil, nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		pos := Pos{File: file, Line: next.Line, Column: next.Column}
		if err != nil {
			pos = yamlErrorPos(file, err)
		}
		errs.atPos(pos, nil, "a second YAML document (---) in one data file; put it in a file of its own")
		return nil, nil
	}
	c := &yamlConv{file: file, errs: errs, budget: aliasBudget(len(b))}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	v, src := c.value(doc.Content[0], at, Pos{})
	if c.failed {
		return nil, nil
	}
	return v, src
}

func yamlErrorPos(file string, err error) Pos {
	var le *yaml.LoadError
	if errors.As(err, &le) {
		return Pos{File: file, Line: le.Mark.Line, Column: le.Mark.Column}
	}
	return Pos{File: file}
}

func yamlErrorMessage(err error) string {
	var le *yaml.LoadError
	if errors.As(err, &le) {
		if le.ContextMsg != "" && le.ContextMark.Line != 0 && le.ContextMark.Line != le.Mark.Line {
			return fmt.Sprintf("yaml: %s (%s at line %d)", le.Message, le.ContextMsg, le.ContextMark.Line)
		}
		return "yaml: " + le.Message
	}
	return err.Error()
}

// aliasBudget bounds the values aliases may expand to: a few kilobytes of anchors and
// aliases can otherwise name billions of values (the "billion laughs").
func aliasBudget(size int) int { return max(100_000, 20*size) }

type yamlConv struct {
	file   string
	errs   *dataErrs
	budget int
	failed bool
	active map[*yaml.Node]bool // anchors being expanded, to refuse one that contains itself
}

// maxDataDepth bounds nesting: policy data is a few levels deep, and a path is copied at
// each level, so thousands of levels would cost time quadratic in the file.
const maxDataDepth = 100

func (c *yamlConv) pos(n *yaml.Node) Pos { return Pos{File: c.file, Line: n.Line, Column: n.Column} }

func (c *yamlConv) fail(n *yaml.Node, p dataPath, format string, args ...any) {
	c.failed = true
	c.errs.atPos(c.pos(n), p, format, args...)
}

// value converts one node. key is where its key stands when it is an object member.
func (c *yamlConv) value(n *yaml.Node, p dataPath, key Pos) (any, *srcNode) {
	if c.budget--; c.budget < 0 {
		if c.budget == -1 {
			c.fail(n, p, "aliases expand to more values than a data file may hold")
		}
		return nil, nil
	}
	if len(p) > maxDataDepth {
		if !c.failed {
			c.fail(n, nil, "nested more than %d levels deep", maxDataDepth)
		}
		return nil, nil
	}
	if n.Anchor != "" {
		if c.active == nil {
			c.active = map[*yaml.Node]bool{}
		}
		c.active[n] = true
		defer delete(c.active, n)
	}
	switch n.Kind {
	case yaml.AliasNode:
		// The value is the anchored one; its place is the alias, where this document uses it.
		if c.active[n.Alias] {
			c.fail(n, p, "alias *%s refers to a value that contains it", n.Value)
			return nil, nil
		}
		v, src := c.value(n.Alias, p, key)
		if src != nil {
			src = relocate(src, c.pos(n), key)
		}
		return v, src
	case yaml.MappingNode:
		return c.mapping(n, p, key)
	case yaml.SequenceNode:
		src := &srcNode{at: c.pos(n), key: key, container: true}
		out := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			v, s := c.value(item, p.index(i), Pos{})
			out = append(out, v)
			src.items = append(src.items, s)
		}
		return out, src
	case yaml.ScalarNode:
		return c.scalar(n, p), &srcNode{at: c.pos(n), key: key}
	}
	c.fail(n, p, "unexpected YAML node")
	return nil, nil
}

// relocate places an aliased value at the alias; what is inside it stays at the anchor,
// where it is written.
func relocate(src *srcNode, at, key Pos) *srcNode {
	out := *src
	out.at, out.key = at, key
	return &out
}

func (c *yamlConv) mapping(n *yaml.Node, p dataPath, key Pos) (any, *srcNode) {
	out := map[string]any{}
	src := newContainer(c.pos(n), key)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		name, ok := c.key(k, p)
		if !ok {
			continue
		}
		if prev, dup := src.fields[name]; dup {
			c.fail(k, p.key(name), "key %q appears twice in this mapping; first at line %d", name, prev.key.Line)
			continue
		}
		val, s := c.value(v, p.key(name), c.pos(k))
		out[name] = val
		src.fields[name] = s
	}
	// Merge keys (<<: *defaults) add the keys the mapping does not set itself, the first
	// merged mapping winning over later ones, as YAML defines them.
	for _, m := range merges {
		sources := []*yaml.Node{m}
		if target := resolveAlias(m); target.Kind == yaml.SequenceNode {
			sources = target.Content
		}
		for _, s := range sources {
			sv, ss := c.value(s, p, c.pos(m))
			obj, ok := sv.(map[string]any)
			if !ok {
				if sv != nil || !c.failed {
					c.fail(m, p, "a merge key (<<) must name a mapping or a list of mappings")
				}
				continue
			}
			for k, v := range obj {
				if _, set := out[k]; !set {
					out[k] = v
					src.fields[k] = ss.fields[k]
				}
			}
		}
	}
	return out, src
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// key returns a mapping key as the string JSON needs; other keys are refused rather than
// turned into strings, as a number or a list where a name was meant is a mistake.
func (c *yamlConv) key(k *yaml.Node, p dataPath) (string, bool) {
	k = resolveAlias(k)
	if k.Kind != yaml.ScalarNode {
		c.fail(k, p, "a key must be a string, not %s", describeYAML(k))
		return "", false
	}
	if k.ShortTag() != "!!str" {
		c.fail(k, p, "key %s is not a string; quote it (%q) if it is meant as a name", describeYAML(k), k.Value)
		return "", false
	}
	return k.Value, true
}

func describeYAML(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		return n.Value + " (a number)"
	case "!!bool":
		return n.Value + " (a boolean)"
	case "!!null":
		return "null"
	}
	return strconv.Quote(n.Value)
}

// scalar converts a scalar by its resolved tag into what yaml.v3 and a JSON round trip
// made of it, which is what policies were written against.
func (c *yamlConv) scalar(n *yaml.Node, p dataPath) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			c.fail(n, p, "%v", err)
		}
		return b
	case "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			c.fail(n, p, "%v", err)
			return nil
		}
		if f, ok := v.(float64); ok {
			if math.IsInf(f, 0) || math.IsNaN(f) {
				c.fail(n, p, "%s is not a number JSON can hold", n.Value)
				return nil
			}
			if f == 0 {
				v = 0.0 // -0, which yaml.v3 read as the integer 0
			}
		}
		j, err := json.Marshal(v)
		if err != nil {
			c.fail(n, p, "%v", err)
			return nil
		}
		return json.Number(j)
	case "!!timestamp":
		// yaml.v3 read a timestamp into a time.Time, which the JSON round trip wrote in
		// RFC 3339: 2026-01-01 became 2026-01-01T00:00:00Z. Kept, so that data which
		// loaded before loads the same.
		var ts time.Time
		if err := n.Decode(&ts); err != nil {
			return n.Value
		}
		return ts.Format(time.RFC3339Nano)
	}
	return n.Value
}

// decodeJSON decodes a JSON file token by token, to know where each value starts and to
// refuse what encoding/json would silently accept: a key twice in one object (the last
// one would win) and a second value after the first.
func decodeJSON(file string, b []byte, at dataPath, errs *dataErrs) (any, *srcNode) {
	c := &jsonConv{file: file, b: b, dec: json.NewDecoder(bytes.NewReader(b)), errs: errs}
	c.dec.UseNumber()
	v, src, err := c.value(at, Pos{})
	if err == nil {
		next := c.pos(c.start(c.dec.InputOffset()))
		if _, extra := c.dec.Token(); extra == nil {
			err = c.errorAt(next, at, "a second JSON value after the first; a data file holds one")
		} else if !errors.Is(extra, io.EOF) {
			err = c.syntaxError(extra, at)
		}
	}
	if err != nil {
		return nil, nil
	}
	if src == nil && v == nil {
		return nil, nil
	}
	return v, src
}

type jsonConv struct {
	file  string
	b     []byte
	dec   *json.Decoder
	errs  *dataErrs
	lines []int // offsets at which lines start, built on first use
}

// errStop ends a JSON decode after the problem was recorded.
var errStop = errors.New("stop")

func (c *jsonConv) errorAt(pos Pos, p dataPath, format string, args ...any) error {
	c.errs.atPos(pos, p, format, args...)
	return errStop
}

func (c *jsonConv) syntaxError(err error, p dataPath) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		// Token reports the offset of the offending byte itself.
		return c.errorAt(c.pos(int(se.Offset)), p, "json: %s", se.Error())
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return c.errorAt(c.pos(len(c.b)), p, "json: unexpected end of file")
	}
	return c.errorAt(Pos{File: c.file}, p, "json: %v", err)
}

// start skips from off past the white space and separators before the next token.
func (c *jsonConv) start(off int64) int {
	i := int(off)
	for i < len(c.b) {
		switch c.b[i] {
		case ' ', '\t', '\r', '\n', ':', ',':
			i++
			continue
		}
		break
	}
	return i
}

func (c *jsonConv) pos(off int) Pos {
	if c.lines == nil {
		c.lines = []int{0}
		for i, ch := range c.b {
			if ch == '\n' {
				c.lines = append(c.lines, i+1)
			}
		}
	}
	off = max(0, min(off, len(c.b)))
	line := sort.Search(len(c.lines), func(i int) bool { return c.lines[i] > off }) - 1
	return Pos{File: c.file, Line: line + 1, Column: utf8.RuneCount(c.b[c.lines[line]:off]) + 1}
}

func (c *jsonConv) value(p dataPath, key Pos) (any, *srcNode, error) {
	at := c.pos(c.start(c.dec.InputOffset()))
	if len(p) > maxDataDepth {
		return nil, nil, c.errorAt(at, nil, "nested more than %d levels deep", maxDataDepth)
	}
	tok, err := c.dec.Token()
	if err != nil {
		return nil, nil, c.syntaxError(err, p)
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return c.object(p, at, key)
		}
		return c.array(p, at, key)
	default:
		return t, &srcNode{at: at, key: key}, nil
	}
}

func (c *jsonConv) object(p dataPath, at, key Pos) (any, *srcNode, error) {
	out := map[string]any{}
	src := newContainer(at, key)
	for c.dec.More() {
		kpos := c.pos(c.start(c.dec.InputOffset()))
		tok, err := c.dec.Token()
		if err != nil {
			return nil, nil, c.syntaxError(err, p)
		}
		name := tok.(string) // the decoder only yields string keys inside an object
		if prev, dup := src.fields[name]; dup {
			return nil, nil, c.errorAt(kpos, p.key(name), "key %q appears twice in this object; first at line %d", name, prev.key.Line)
		}
		v, s, err := c.value(p.key(name), kpos)
		if err != nil {
			return nil, nil, err
		}
		out[name] = v
		src.fields[name] = s
	}
	if _, err := c.dec.Token(); err != nil { // '}'
		return nil, nil, c.syntaxError(err, p)
	}
	return out, src, nil
}

func (c *jsonConv) array(p dataPath, at, key Pos) (any, *srcNode, error) {
	out := []any{}
	src := &srcNode{at: at, key: key, container: true}
	for i := 0; c.dec.More(); i++ {
		v, s, err := c.value(p.index(i), Pos{})
		if err != nil {
			return nil, nil, err
		}
		out = append(out, v)
		src.items = append(src.items, s)
	}
	if _, err := c.dec.Token(); err != nil { // ']'
		return nil, nil, c.syntaxError(err, p)
	}
	return out, src, nil
}
