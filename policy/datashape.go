package policy

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// shapeCheck checks the contract's documents against the types of Data before they are
// decoded into them, so that every unknown key and every value of the wrong type is
// reported at its place, in the words of the file (a key, a list, a number), rather than
// as encoding/json's first complaint about a Go struct field.
type shapeCheck struct {
	errs *dataErrs
	bad  []dataPath // values refused here; checks of the typed view skip what is under them
}

// nouns name the contract's objects in messages.
var nouns = map[reflect.Type]string{
	reflect.TypeFor[Zone]():       "a zone",
	reflect.TypeFor[Department](): "a department",
	reflect.TypeFor[Resource]():   "a catalog resource",
	reflect.TypeFor[FieldSpec]():  "a catalog field",
	reflect.TypeFor[Agreement]():  "an agreement",
	reflect.TypeFor[Quota]():      "a quota",
	reflect.TypeFor[ModeSpec]():   "a mode",
}

func (s *shapeCheck) refuse(p dataPath, format string, args ...any) {
	s.bad = append(s.bad, p)
	s.errs.at(p, format, args...)
}

// refused reports whether p is at or under a value refused by the shape check.
func (s *shapeCheck) refused(p dataPath) bool {
	for _, b := range s.bad {
		if p.within(b) {
			return true
		}
	}
	return false
}

// check returns v with every refused value left out, ready for encoding/json.
func (s *shapeCheck) check(v any, t reflect.Type, p dataPath) any {
	if v == nil {
		return nil // encoding/json leaves the zero value; the checks of the typed view judge it
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			s.refuse(p, "want a mapping (%s), got %s", nouns[t], describeJSON(v))
			return nil
		}
		fields := jsonFields(t)
		out := make(map[string]any, len(obj))
		for _, k := range sortedKeys(obj) {
			f, ok := fields[k]
			if !ok {
				s.bad = append(s.bad, p.key(k))
				s.errs.atKey(p.key(k), "unknown key %q in %s%s", k, nouns[t], suggestKey(k, fields))
				continue
			}
			if c := s.check(obj[k], f, p.key(k)); c != nil {
				out[k] = c
			}
		}
		return out
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			s.refuse(p, "want a mapping, got %s", describeJSON(v))
			return nil
		}
		out := make(map[string]any, len(obj))
		for _, k := range sortedKeys(obj) {
			if c := s.check(obj[k], t.Elem(), p.key(k)); c != nil {
				out[k] = c
			}
		}
		return out
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			s.refuse(p, "want a list, got %s", describeJSON(v))
			return nil
		}
		out := make([]any, 0, len(arr))
		for i, item := range arr {
			// A refused item is kept as null, so that the items after it keep their index.
			out = append(out, s.check(item, t.Elem(), p.index(i)))
		}
		return out
	case reflect.String:
		if _, ok := v.(string); !ok {
			s.refuse(p, "want a string, got %s", describeJSON(v))
			return nil
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			s.refuse(p, "want true or false, got %s", describeJSON(v))
			return nil
		}
	case reflect.Int:
		n, ok := v.(json.Number)
		if !ok {
			s.refuse(p, "want a whole number, got %s", describeJSON(v))
			return nil
		}
		if _, err := strconv.ParseInt(string(n), 10, 64); err != nil {
			s.refuse(p, "want a whole number, got %s", n)
			return nil
		}
	}
	return v
}

// jsonFields maps a struct's JSON keys to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.IsExported() && name != "" && name != "-" {
			out[name] = f.Type
		}
	}
	return out
}

// suggestKey names the key that was probably meant, or lists the keys there are.
func suggestKey(k string, fields map[string]reflect.Type) string {
	best, bestDist := "", 3
	for name := range fields {
		if d := editDistance(k, name); d < bestDist || d == bestDist && name < best {
			best, bestDist = name, d
		}
	}
	if best != "" && bestDist <= 2 {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	return " (its keys: " + strings.Join(names, ", ") + ")"
}

// editDistance is the Levenshtein distance between a and b, in bytes; keys are ASCII.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// describeJSON names a decoded value's type in the file's terms and shows a short form.
func describeJSON(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 40 {
			x = x[:37] + "..."
		}
		return fmt.Sprintf("the string %q", x)
	case json.Number:
		return "the number " + string(x)
	case bool:
		return fmt.Sprintf("the boolean %t", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}
