package policy

import (
	"fmt"
	"sort"
	"strings"
)

// DataError is one problem in the data documents: where it is, the data path of the value
// (what the Rego reads), and what is wrong. It prints as FILE:LINE:COLUMN: PATH: MESSAGE,
// the form editors and CI annotations jump to.
type DataError struct {
	Pos  Pos
	Path string
	Msg  string
}

func (e *DataError) Error() string {
	var b strings.Builder
	if e.Pos.File != "" {
		b.WriteString(e.Pos.String() + ": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// maxDataErrors bounds the problems a load reports: enough for an officer to fix a batch
// at once, not a wall of cascading messages from one wrong indentation.
const maxDataErrors = 50

// DataErrors are every problem found in one load of the data documents, in file order.
type DataErrors []*DataError

func (es DataErrors) Error() string {
	if len(es) == 1 {
		return es[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d errors", len(es))
	for i, e := range es {
		if i == maxDataErrors {
			fmt.Fprintf(&b, "\n… and %d more", len(es)-maxDataErrors)
			break
		}
		b.WriteString("\n" + e.Error())
	}
	return b.String()
}

// dataErrs collects problems while loading and checking the data.
type dataErrs struct {
	src  *srcNode
	list DataErrors
}

// at records a problem with the value at p, placed where the files hold it.
func (d *dataErrs) at(p dataPath, format string, args ...any) {
	d.list = append(d.list, &DataError{Pos: d.src.find(p), Path: p.String(), Msg: fmt.Sprintf(format, args...)})
}

// atKey records a problem with a key itself (an unknown one): at the key, not its value.
func (d *dataErrs) atKey(p dataPath, format string, args ...any) {
	pos := d.src.find(p)
	if n := d.src.child(p); n != nil && n.key.Line != 0 {
		pos = n.key
	}
	d.list = append(d.list, &DataError{Pos: pos, Path: p.String(), Msg: fmt.Sprintf(format, args...)})
}

// atPos records a problem whose place is known directly; p is nil for a problem with a
// file as a whole (its syntax), which has no data path.
func (d *dataErrs) atPos(pos Pos, p dataPath, format string, args ...any) {
	e := &DataError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
	if p != nil {
		e.Path = p.String()
	}
	d.list = append(d.list, e)
}

// err returns the problems in file order, or nil.
func (d *dataErrs) err() error {
	if len(d.list) == 0 {
		return nil
	}
	sort.SliceStable(d.list, func(i, j int) bool {
		a, b := d.list[i].Pos, d.list[j].Pos
		if (a.File == "") != (b.File == "") {
			return a.File != "" // problems with a place first
		}
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return d.list
}
