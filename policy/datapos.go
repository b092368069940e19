package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Pos is where a value stands in a data file: the file, relative to the policy
// directory, and the line and column, both from 1 (columns count characters, as YAML
// does). Line 0 means the place is not known, for a document no file defines.
type Pos struct {
	File   string
	Line   int
	Column int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// pathElem is one step of a data path: a key of an object or an index of an array.
type pathElem struct {
	key     string
	index   int
	isIndex bool
}

// dataPath names a value of the merged data documents, as a Rego reference would:
// data.catalog.population.basic.classification, data.agreements.x.y[0].id.
type dataPath []pathElem

func (p dataPath) key(k string) dataPath {
	return append(p[:len(p):len(p)], pathElem{key: k})
}

func (p dataPath) index(i int) dataPath {
	return append(p[:len(p):len(p)], pathElem{index: i, isIndex: true})
}

func (p dataPath) String() string {
	var b strings.Builder
	b.WriteString("data")
	for _, e := range p {
		if e.isIndex {
			b.WriteString("[" + strconv.Itoa(e.index) + "]")
			continue
		}
		b.WriteString("." + e.key)
	}
	return b.String()
}

// within reports whether p is q or a value under it.
func (p dataPath) within(q dataPath) bool {
	if len(p) < len(q) {
		return false
	}
	for i := range q {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// srcNode records where each value of the merged data came from, so that a problem
// found in the typed view can be reported at the file, line and column an officer edits.
type srcNode struct {
	at        Pos // the value itself
	key       Pos // its key, when it is a member of an object (Line 0 otherwise)
	container bool
	fields    map[string]*srcNode
	items     []*srcNode
}

func newContainer(at, key Pos) *srcNode {
	return &srcNode{at: at, key: key, container: true, fields: map[string]*srcNode{}}
}

// where is the place to report a problem with this value: a scalar at its value (the
// offending label, not the key before it), an object or array at its key when it has one
// (its value starts on the next line in a block mapping).
func (n *srcNode) where() Pos {
	if n.container && n.key.Line != 0 {
		return n.key
	}
	return n.at
}

// find returns the place of the value at p or, when p goes further than the data does
// (a missing field), of the deepest value on the way that is in a file.
func (n *srcNode) find(p dataPath) Pos {
	best := Pos{}
	if n != nil && n.at.File != "" {
		best = n.where()
	}
	for _, e := range p {
		if n == nil {
			break
		}
		switch {
		case e.isIndex && e.index >= 0 && e.index < len(n.items):
			n = n.items[e.index]
		case !e.isIndex && n.fields != nil:
			n = n.fields[e.key]
		default:
			n = nil
		}
		if n != nil && n.at.File != "" {
			best = n.where()
		}
	}
	return best
}

// child returns the node at p, or nil.
func (n *srcNode) child(p dataPath) *srcNode {
	for _, e := range p {
		if n == nil {
			return nil
		}
		if e.isIndex {
			if e.index < 0 || e.index >= len(n.items) {
				return nil
			}
			n = n.items[e.index]
			continue
		}
		n = n.fields[e.key]
	}
	return n
}
