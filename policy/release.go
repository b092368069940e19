package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"slices"
	"strings"
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

// Label is the catalog's label for the decision's resource.
func (d *Decision) Label() string { return d.rev.data.Catalog[d.Resource].Classification }

// Opaque reports whether the resource's responses are not JSON and so are released whole.
func (d *Decision) Opaque() bool { return d.rev.data.Catalog[d.Resource].Opaque }

// IsJSON reports whether a Content-Type names JSON (application/json or any +json type).
func IsJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// FilterJSON cuts a JSON body down to the decision's fields and applies its masks: a
// top-level object keeps only allowed members, an array keeps only allowed members of each
// object in it. Any other shape is refused, because there is nothing to cut it down by.
// Members come out in name order.
func (d *Decision) FilterJSON(body []byte) ([]byte, error) {
	masks := d.masks
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return body, nil
	}
	switch body[0] {
	case '{':
		obj, err := d.filterObject(body, masks)
		if err != nil {
			return nil, err
		}
		return json.Marshal(obj)
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, refused("RESPONSE_NOT_JSON", "the provider's response is not valid JSON: %v", err)
		}
		out := make([]map[string]json.RawMessage, 0, len(items))
		for i, it := range items {
			it = bytes.TrimSpace(it)
			if len(it) == 0 || it[0] != '{' {
				return nil, refused("RESPONSE_SHAPE", "element %d of the provider's JSON array is not an object, so it cannot be cut down to the released fields", i)
			}
			obj, err := d.filterObject(it, masks)
			if err != nil {
				return nil, err
			}
			out = append(out, obj)
		}
		return json.Marshal(out)
	default:
		return nil, refused("RESPONSE_SHAPE", "the provider's JSON is neither an object nor an array of objects, so it cannot be cut down to the released fields")
	}
}

func (d *Decision) filterObject(raw []byte, masks map[string]maskRule) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, refused("RESPONSE_NOT_JSON", "the provider's response is not valid JSON: %v", err)
	}
	for name, v := range obj {
		if _, ok := slices.BinarySearch(d.Fields, name); !ok {
			delete(obj, name)
			continue
		}
		if m, ok := masks[name]; ok {
			obj[name] = maskValue(v, m)
		}
	}
	return obj, nil
}

// maskValue masks a string value; any other value is masked as its JSON text, so that a
// number or an object never slips through unmasked. null stays null: there is nothing in it.
func maskValue(v json.RawMessage, m maskRule) json.RawMessage {
	v = bytes.TrimSpace(v)
	if string(v) == "null" {
		return v
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		s = string(v)
	}
	out, _ := json.Marshal(m.apply(s))
	return out
}
