package gateway

import (
	"reflect"
	"strconv"
	"strings"
)

// RestartRequiredError refuses a reload that changes fields the running gateway read only
// at start: applying the rest would leave GET /config showing values not in force.
type RestartRequiredError struct {
	// Fields are the changed restart-only fields by YAML path (policy.dir,
	// listeners[1].transport), in config order.
	Fields []string
}

func (e *RestartRequiredError) Error() string {
	return "restart-only fields changed (nothing was applied; restart the gateway to apply them): " + strings.Join(e.Fields, ", ")
}

// reloadClass is the class of the field at typePath (list indexes written "[]"): the rule
// of the field itself or of its nearest classified ancestor. ok is false for a field no
// rule reaches.
func reloadClass(typePath string) (class ReloadClass, ok bool) {
	rules := ReloadRules()
	for p := typePath; p != ""; p = parentPath(p) {
		for _, r := range rules {
			if r.Path == p {
				return r.Class, true
			}
		}
	}
	return "", false
}

// restartOnlyAt reports whether a change at typePath, or anywhere below it, needs a
// restart. Unclassified fields do (fail closed).
func restartOnlyAt(typePath string) bool {
	if c, ok := reloadClass(typePath); !ok || c == RestartOnly {
		return true
	}
	for _, r := range ReloadRules() {
		if r.Class == RestartOnly && strings.HasPrefix(r.Path, typePath) &&
			(strings.HasPrefix(r.Path[len(typePath):], ".") || strings.HasPrefix(r.Path[len(typePath):], "[]")) {
			return true
		}
	}
	return false
}

// parentPath drops the last element of a path: "a.b[]" → "a.b", "a.b" → "a", "a" → "".
func parentPath(p string) string {
	if strings.HasSuffix(p, "[]") {
		return strings.TrimSuffix(p, "[]")
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// yamlName is the key a struct field has in YAML; "" for a field YAML skips, and inline
// is true for a field whose members sit in its parent's mapping.
func yamlName(f reflect.StructField) (name string, inline bool) {
	tag := f.Tag.Get("yaml")
	name, opts, _ := strings.Cut(tag, ",")
	if name == "-" || !f.IsExported() {
		return "", false
	}
	if strings.Contains(","+opts+",", ",inline,") {
		return "", true
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, false
}

// restartOnlyChanges lists the restart-only fields whose values differ between the
// config in force and next, by YAML path with list indexes.
func restartOnlyChanges(inForce, next *Config) []string {
	var d configDiff
	d.walk(reflect.ValueOf(inForce).Elem(), reflect.ValueOf(next).Elem(), "", "")
	return d.fields
}

type configDiff struct{ fields []string }

// walk compares a and b, values of one type at path (typePath the same with "[]" for
// every index). Structs and lists of structs are compared member by member; anything
// else (scalars, lists of scalars, maps) as one value.
func (d *configDiff) walk(a, b reflect.Value, path, typePath string) {
	switch a.Kind() {
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			name, inline := yamlName(a.Type().Field(i))
			if name == "" && !inline {
				continue
			}
			p, tp := path, typePath
			if !inline {
				p, tp = joinPath(path, name), joinPath(typePath, name)
			}
			d.walk(a.Field(i), b.Field(i), p, tp)
		}
		return
	case reflect.Pointer:
		if !a.IsNil() && !b.IsNil() {
			d.walk(a.Elem(), b.Elem(), path, typePath)
			return
		}
	case reflect.Slice, reflect.Array:
		if a.Type().Elem().Kind() == reflect.Struct {
			d.walkList(a, b, path, typePath+"[]")
			return
		}
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) && restartOnlyAt(typePath) {
		d.fields = append(d.fields, path)
	}
}

// walkList compares lists of structs by index; an element only one side has is a change
// of the element as a whole.
func (d *configDiff) walkList(a, b reflect.Value, path, elemType string) {
	for i := 0; i < max(a.Len(), b.Len()); i++ {
		p := path + "[" + strconv.Itoa(i) + "]"
		if i < a.Len() && i < b.Len() {
			d.walk(a.Index(i), b.Index(i), p, elemType)
		} else if restartOnlyAt(elemType) {
			d.fields = append(d.fields, p)
		}
	}
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
