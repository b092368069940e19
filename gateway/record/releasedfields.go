package record

import (
	"encoding/json"

	"github.com/govgate/govgate/policy"
)

// sentBody is the response body that leaves: none for a HEAD and for the statuses that
// carry none (1xx, 204, 304), whatever body the gateway built (an error, the catalog) —
// fasthttp does not send it. The record's response_digest and bytes.response describe it.
func sentBody(method []byte, status int, body []byte) []byte {
	if string(method) == "HEAD" || status < 200 || status == 204 || status == 304 {
		return nil
	}
	return body
}

// recordedFields is the record's fields: those of the decision's fields that the released
// body carries. Nothing released — no body sent, a {} or [] — is no field. An opaque
// resource is released whole, so a body of it carries the decision's fields; so does a
// body that is not the JSON shape the release stage leaves (an object, or an array of
// objects), which cannot be read field by field. A part of the fields is appended to
// room (the pending record's).
func recordedFields(d *policy.Decision, body []byte, room []string) []string {
	if len(d.Fields) == 0 || len(body) == 0 {
		return []string{}
	}
	if d.Opaque() {
		return d.Fields
	}
	fields, ok := releasedFields(body, d.Fields, room)
	if !ok {
		return d.Fields
	}
	return fields
}

// releasedFields returns the fields, in their order, that are members of the top-level
// object of body or of any object in its top-level array: fields itself when every one
// is, else those of them appended to room[:0]. ok is false when body is not such a
// document, or when fields are too many to track.
func releasedFields(body []byte, fields, room []string) (_ []string, ok bool) {
	if len(fields) > 256 {
		return nil, false
	}
	var seen [4]uint64
	s := jsonScan{b: body}
	s.space()
	switch s.peek() {
	case '{':
		if !s.object(fields, &seen) {
			return nil, false
		}
	case '[':
		s.i++
		s.space()
		if s.peek() == ']' {
			s.i++
			break
		}
		for {
			if s.peek() != '{' || !s.object(fields, &seen) {
				return nil, false
			}
			s.space()
			if c := s.peek(); c == ']' {
				s.i++
				break
			} else if c != ',' {
				return nil, false
			}
			s.i++
			s.space()
		}
	default:
		return nil, false
	}
	s.space()
	if s.i != len(body) {
		return nil, false
	}
	n := 0
	for _, w := range seen {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	if n == len(fields) {
		return fields, true
	}
	out := room[:0]
	if out == nil {
		out = []string{} // none released is [], never a missing member
	}
	for k, f := range fields {
		if seen[k/64]&(1<<(k%64)) != 0 {
			out = append(out, f)
		}
	}
	return out, true
}

// jsonScan reads a JSON document just enough to find member names; it never panics on
// input that is not JSON, it reports it.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jsonScan) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// object reads the object at s.i and marks in seen the fields its members name.
func (s *jsonScan) object(fields []string, seen *[4]uint64) bool {
	s.i++ // '{'
	s.space()
	if s.peek() == '}' {
		s.i++
		return true
	}
	for {
		if s.peek() != '"' {
			return false
		}
		start := s.i
		if !s.str() {
			return false
		}
		key := s.b[start:s.i]
		s.space()
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.space()
		if !s.value() {
			return false
		}
		name := key[1 : len(key)-1]
		for j := 0; j < len(name); j++ {
			if name[j] == '\\' {
				// Declared here: its address goes to json.Unmarshal, so it lives on the
				// heap, which only a name with an escape should pay for (it was one
				// allocation per member of every released object).
				var decoded string
				if json.Unmarshal(key, &decoded) != nil {
					return false
				}
				name = []byte(decoded)
				break
			}
		}
		for k, f := range fields {
			if f == string(name) {
				seen[k/64] |= 1 << (k % 64)
			}
		}
		s.space()
		switch s.peek() {
		case '}':
			s.i++
			return true
		case ',':
			s.i++
			s.space()
		default:
			return false
		}
	}
}

// str skips the string at s.i, escapes included.
func (s *jsonScan) str() bool {
	for j := s.i + 1; j < len(s.b); j++ {
		switch s.b[j] {
		case '\\':
			j++
		case '"':
			s.i = j + 1
			return true
		}
	}
	return false
}

// value skips the value at s.i: a string, an object or array by depth, or a literal.
func (s *jsonScan) value() bool {
	switch s.peek() {
	case '"':
		return s.str()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if !s.str() {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	case 0:
		return false
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return s.i > start
		}
		s.i++
	}
	return s.i > start
}
