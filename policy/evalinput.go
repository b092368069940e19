package policy

import (
	"fmt"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// inputShape is the type of each field of DESIGN.md's input document, as a security
// officer writes it for a dry run. The gateway builds its inputs itself (Input.value);
// this is for documents written by hand, where a number for a department would otherwise
// be evaluated as whatever Rego makes of it and printed back as nonsense.
type inputShape struct {
	kind   string // "object", "string", "boolean", "strings" (array of strings), "string map"
	fields map[string]*inputShape
}

var (
	shapeString  = &inputShape{kind: "string"}
	shapeBool    = &inputShape{kind: "boolean"}
	shapeStrings = &inputShape{kind: "strings"}
	shapeStrMap  = &inputShape{kind: "string map"}
)

var evalInputShape = &inputShape{kind: "object", fields: map[string]*inputShape{
	"subject": {kind: "object", fields: map[string]*inputShape{
		"dept": shapeString, "system": shapeString, "cert_serial": shapeString, "auth": shapeString, "signed": shapeBool,
	}},
	"request": {kind: "object", fields: map[string]*inputShape{
		"method": shapeString, "path": shapeString, "query": shapeStrMap, "purpose": shapeString, "agreement": shapeString,
	}},
	"route": {kind: "object", fields: map[string]*inputShape{
		"id": shapeString, "mode": shapeString, "source_zone": shapeString, "target_zone": shapeString,
	}},
	"resource": {kind: "object", fields: map[string]*inputShape{
		"id": shapeString, "owner": shapeString, "category": shapeString, "sharing": shapeString,
		"classification": shapeString, "fields": shapeStrings,
	}},
	"time": shapeString,
}}

// checkEvalInput refuses an input document whose fields are not of the contract's types,
// or that has fields the contract does not (a misspelt field would be evaluated as absent
// and the dry run would answer a question nobody asked). Every problem is reported.
func checkEvalInput(v ast.Value) error {
	var problems []string
	evalInputShape.check("input", v, &problems)
	if t, ok := v.(ast.Object); ok {
		if tv := t.Get(ast.InternedTerm("time")); tv != nil {
			if s, ok := tv.Value.(ast.String); ok {
				if _, err := time.Parse(time.RFC3339, string(s)); err != nil {
					problems = append(problems, fmt.Sprintf("input.time: %q is not an RFC 3339 time", string(s)))
				}
			}
		}
	}
	switch len(problems) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("input: %s", problems[0])
	}
	return fmt.Errorf("input: %d problems:\n  %s", len(problems), strings.Join(problems, "\n  "))
}

func (s *inputShape) check(at string, v ast.Value, problems *[]string) {
	bad := func() {
		*problems = append(*problems, fmt.Sprintf("%s: want %s, got %s", at, s.want(), describeValue(v)))
	}
	switch s.kind {
	case "string":
		if _, ok := v.(ast.String); !ok {
			bad()
		}
	case "boolean":
		if _, ok := v.(ast.Boolean); !ok {
			bad()
		}
	case "strings":
		arr, ok := v.(*ast.Array)
		if !ok {
			bad()
			return
		}
		for i := range arr.Len() {
			shapeString.check(fmt.Sprintf("%s[%d]", at, i), arr.Elem(i).Value, problems)
		}
	case "string map":
		obj, ok := v.(ast.Object)
		if !ok {
			bad()
			return
		}
		for _, k := range obj.Keys() {
			shapeString.check(at+"."+string(k.Value.(ast.String)), obj.Get(k).Value, problems)
		}
	case "object":
		obj, ok := v.(ast.Object)
		if !ok {
			bad()
			return
		}
		for _, k := range obj.Keys() {
			name := string(k.Value.(ast.String)) // JSON keys are strings
			f, ok := s.fields[name]
			if !ok {
				*problems = append(*problems, fmt.Sprintf("%s.%s: not a field of the policy input (%s has %s)", at, name, at, strings.Join(sortedKeys(s.fields), ", ")))
				continue
			}
			f.check(at+"."+name, obj.Get(k).Value, problems)
		}
	}
}

func (s *inputShape) want() string {
	switch s.kind {
	case "string":
		return "a string"
	case "boolean":
		return "true or false"
	case "strings":
		return "an array of strings"
	case "string map":
		return "an object of strings"
	}
	return "an object"
}

// describeValue names a JSON value's type and shows a short form of it.
func describeValue(v ast.Value) string {
	var kind string
	switch v.(type) {
	case ast.String:
		kind = "a string"
	case ast.Number:
		kind = "a number"
	case ast.Boolean:
		kind = "a boolean"
	case ast.Null:
		return "null"
	case ast.Object:
		return "an object"
	case *ast.Array:
		return "an array"
	default:
		kind = ast.ValueName(v)
	}
	s := v.String()
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return fmt.Sprintf("%s (%s)", kind, s)
}
