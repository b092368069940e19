package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"slices"
	"strings"
	"unicode/utf8"
)

// ReleaseError is why a response may not leave the gateway. Denied is true when the
// consumer may not have it (a label above what it may receive); false when the provider's
// response cannot be released as sent (malformed JSON, a shape that cannot be cut down).
type ReleaseError struct {
	Denied bool
	Reason Reason
}

func (e *ReleaseError) Error() string { return e.Reason.Code + ": " + e.Reason.Message }

func denied(code, format string, args ...any) *ReleaseError {
	return &ReleaseError{Denied: true, Reason: Reason{Code: code, Message: fmt.Sprintf(format, args...)}}
}

func refused(code, format string, args ...any) *ReleaseError {
	return &ReleaseError{Reason: Reason{Code: code, Message: fmt.Sprintf(format, args...)}}
}

// CheckLabel checks the response's label — the provider's X-Classification, or the
// catalog's label for the resource when the provider sets none — against the highest
// label this exchange may carry. An unknown label is refused: a label the gateway cannot
// order is a label it cannot let through.
func (d *Decision) CheckLabel(label string) error {
	if label == "" {
		label = d.Label()
	}
	rank, ok := d.rev.labelRank[label]
	if !ok {
		return denied("LABEL_UNKNOWN", "the response is labelled %q, which is not one of %s", label, strings.Join(d.rev.data.Labels, ", "))
	}
	max, ok := d.rev.labelRank[d.MaxLabel]
	if !ok {
		return denied("LABEL_UNKNOWN", "no label may be released on this exchange")
	}
	if rank > max {
		return denied("LABEL_ABOVE_CEILING", "the response is labelled %s, above %s, the highest label this exchange may carry", label, d.MaxLabel)
	}
	return nil
}

// ReleasedLabel is the label the gateway writes on a released response: the provider's,
// but never lower than the catalog's for the resource nor than the highest catalog label
// of the fields the decision releases. A provider may say its data is more sensitive than
// the catalog does, never less: the label travels with the data to wherever the consumer
// passes it on. provider must already have passed CheckLabel (or be empty).
func (d *Decision) ReleasedLabel(provider string) string {
	out := d.Label()
	higher := func(l string) {
		if r, ok := d.rev.labelRank[l]; ok && r > d.rev.labelRank[out] {
			out = l
		}
	}
	res := d.rev.data.Catalog[d.Resource]
	for _, f := range d.Fields {
		higher(res.Fields[f].Label)
	}
	higher(provider)
	return out
}

// Label is the catalog's label for the decision's resource.
func (d *Decision) Label() string { return d.rev.data.Catalog[d.Resource].Classification }

// Opaque reports whether the resource's responses are not JSON and so are released whole.
func (d *Decision) Opaque() bool { return d.rev.data.Catalog[d.Resource].Opaque }

// IsJSON reports whether a Content-Type names JSON (application/json or any +json type).
func IsJSON(contentType string) bool {
	switch contentType {
	case "application/json", "application/json; charset=utf-8", "application/json;charset=utf-8":
		return true // what providers send, without parsing it on every response
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// FilterJSON cuts a JSON body down to the decision's fields and applies its masks: a
// top-level object keeps only allowed members, an array keeps only allowed members of each
// object in it. Any other shape is refused, because there is nothing to cut it down by.
// Members keep their order and their bytes: the body is validated once and then scanned,
// not decoded into maps and encoded again — this runs on every response.
func (d *Decision) FilterJSON(body []byte) ([]byte, error) {
	return d.AppendFilteredJSON(nil, body)
}

// AppendFilteredJSON appends body cut as FilterJSON cuts it to dst and returns the
// extended slice, so that a caller may reuse one buffer for every response it releases.
// On an error the result is nil and dst[:len(dst)] is as it was; its spare capacity may
// hold part of the refused cut, which the caller must not expose.
func (d *Decision) AppendFilteredJSON(dst, body []byte) ([]byte, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return dst, nil
	}
	if !json.Valid(body) {
		return nil, refused("RESPONSE_NOT_JSON", "the provider's response is not valid JSON")
	}
	types := d.rev.data.Catalog[d.Resource].Fields
	out := slices.Grow(dst, len(body))
	switch body[0] {
	case '{':
		return d.filterObject(out, body, types)
	case '[':
		out = append(out, '[')
		i, n := skipSpace(body, 1), 0
		for body[i] != ']' {
			end := valueEnd(body, i)
			if body[i] != '{' {
				return nil, refused("RESPONSE_SHAPE", "element %d of the provider's JSON array is not an object, so it cannot be cut down to the released fields", n)
			}
			if n > 0 {
				out = append(out, ',')
			}
			var err error
			if out, err = d.filterObject(out, body[i:end], types); err != nil {
				return nil, err
			}
			n++
			i = skipSpace(body, end)
			if body[i] == ',' {
				i = skipSpace(body, i+1)
			}
		}
		return append(out, ']'), nil
	default:
		return nil, refused("RESPONSE_SHAPE", "the provider's JSON is neither an object nor an array of objects, so it cannot be cut down to the released fields")
	}
}

// filterObject appends the allowed members of a valid JSON object, masked where the
// decision says. A member whose value is not of the type the catalog declares for the
// field refuses the whole response: an object or array where the catalog promises a
// string carries nested data no agreement names.
func (d *Decision) filterObject(out, obj []byte, types map[string]FieldSpec) ([]byte, error) {
	out = append(out, '{')
	first := true
	i := skipSpace(obj, 1)
	for obj[i] != '}' {
		keyEnd := valueEnd(obj, i)
		key := obj[i:keyEnd]
		i = skipSpace(obj, keyEnd)
		i = skipSpace(obj, i+1) // the colon
		valEnd := valueEnd(obj, i)
		name := memberName(key)
		if _, ok := slices.BinarySearchFunc(d.Fields, name, compareName); ok {
			if err := checkType(types, name, obj[i:valEnd]); err != nil {
				return nil, err
			}
			if !first {
				out = append(out, ',')
			}
			first = false
			out = append(out, key...)
			out = append(out, ':')
			if m, ok := d.masks[string(name)]; ok {
				out = appendMaskedValue(out, obj[i:valEnd], m)
			} else {
				out = append(out, obj[i:valEnd]...)
			}
		}
		i = skipSpace(obj, valEnd)
		if obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
	return append(out, '}'), nil
}

// The field types of the catalog and the JSON values each admits. date and datetime are
// JSON strings; null is admitted for every type, since it carries nothing.
var fieldTypes = []string{"string", "number", "integer", "boolean", "date", "datetime"}

// checkType checks a member's value, in a body already validated as JSON (so its first
// byte says its kind), against the type the catalog declares for the field. A field the
// catalog does not type admits nothing but null.
func checkType(types map[string]FieldSpec, name, v []byte) error {
	first := v[0]
	if first == 'n' {
		return nil
	}
	declared := types[string(name)].Type
	var ok bool
	switch declared {
	case "string", "date", "datetime":
		ok = first == '"'
	case "number":
		ok = first == '-' || '0' <= first && first <= '9'
	case "integer":
		ok = (first == '-' || '0' <= first && first <= '9') && !bytes.ContainsAny(v, ".eE")
	case "boolean":
		ok = first == 't' || first == 'f'
	}
	if ok {
		return nil
	}
	if declared == "" {
		declared = "no type"
	}
	return refused("RESPONSE_FIELD_TYPE", "field %s of the provider's response is %s, but the catalog declares %s", name, jsonKind(first), declared)
}

func jsonKind(first byte) string {
	switch first {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// memberName decodes a member name, escapes and all, so that "\u0063redit_rating" is
// compared as credit_rating. The usual name, without escapes, is the body's own bytes:
// copying every member name of every response was a twentieth of the bytes the gateway
// allocates.
func memberName(quoted []byte) []byte {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return quoted[1 : len(quoted)-1]
	}
	var s string
	if json.Unmarshal(quoted, &s) != nil {
		return nil // unreachable for a body json.Valid accepted; an empty name is never allowed
	}
	return []byte(s)
}

// compareName orders a field name and a member name as strings; the conversion in a
// comparison does not copy.
func compareName(field string, name []byte) int {
	switch {
	case field < string(name):
		return -1
	case field > string(name):
		return 1
	}
	return 0
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the index just after the JSON value starting at i, in a body that is
// valid JSON: strings are skipped with their escapes, objects and arrays by depth.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return len(b)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = valueEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	default: // number, true, false, null
		j := i
		for j < len(b) && !strings.ContainsRune(",}] \t\n\r", rune(b[j])) {
			j++
		}
		return j
	}
}

// appendMaskedValue appends v, a JSON value of a validated body, masked by m: a string
// by its characters, any other value as its JSON text, so that a number or an object
// never slips through unmasked; the result is a JSON string. null stays null: there is
// nothing in it. A string without escapes is masked where it lies, without a copy.
func appendMaskedValue(out, v []byte, m maskRule) []byte {
	v = bytes.TrimSpace(v)
	if string(v) == "null" {
		return append(out, v...)
	}
	s := v
	if v[0] == '"' {
		// Without escapes, and valid UTF-8 (encoding/json makes each invalid byte
		// U+FFFD, which an sm3 pseudonym would hash), the string is its bytes.
		if bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v) {
			s = v[1 : len(v)-1]
		} else {
			var unquoted string
			if json.Unmarshal(v, &unquoted) == nil {
				s = []byte(unquoted)
			}
		}
	}
	return m.appendMasked(out, s, true)
}
