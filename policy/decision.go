package policy

import (
	"fmt"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Reason is one reason code of a decision, with a message a department can act on.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Decision is the typed result of data.govgate.authz.decision for one exchange. Decisions
// are shared by the cache and must not be changed after they are made.
type Decision struct {
	Allow            bool              `json:"allow"`
	Reasons          []Reason          `json:"reasons"`
	Fields           []string          `json:"fields"` // sorted
	RequireSignature bool              `json:"require_signature"`
	Mask             map[string]string `json:"mask,omitempty"`
	Quota            Quota             `json:"quota"`
	Agreement        string            `json:"agreement,omitempty"`
	MaxLabel         string            `json:"max_label"`
	Resource         string            `json:"resource"`
	Revision         string            `json:"revision"`

	rev   *Revision
	masks map[string]maskRule
}

// ReasonCodes lists the decision's reason codes.
func (d *Decision) ReasonCodes() []string {
	out := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		out[i] = r.Code
	}
	return out
}

// decodeDecision reads the decision document without a JSON round trip. A document that
// does not have the contract's shape is an error, never an allow.
func decodeDecision(v ast.Value, rev *Revision, resource string) (*Decision, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("decision is %s, not an object", ast.ValueName(v))
	}
	d := &Decision{Resource: resource, Revision: rev.ID, rev: rev}
	var err error
	if d.Allow, err = boolField(obj, "allow"); err != nil {
		return nil, err
	}
	if d.RequireSignature, err = boolField(obj, "require_signature"); err != nil {
		return nil, err
	}
	if d.Agreement, err = stringField(obj, "agreement"); err != nil {
		return nil, err
	}
	if d.MaxLabel, err = stringField(obj, "max_label"); err != nil {
		return nil, err
	}
	if d.Fields, err = stringsField(obj, "fields"); err != nil {
		return nil, err
	}
	sort.Strings(d.Fields)
	if d.Reasons, err = reasonsField(obj); err != nil {
		return nil, err
	}
	if err := d.decodeObligations(obj); err != nil {
		return nil, err
	}
	if d.Allow && len(d.Reasons) > 0 {
		return nil, fmt.Errorf("decision allows and gives reasons %v: the policy contradicts itself", d.ReasonCodes())
	}
	return d, nil
}

func (d *Decision) decodeObligations(obj ast.Object) error {
	t := obj.Get(ast.InternedTerm("obligations"))
	if t == nil {
		return nil
	}
	ob, ok := t.Value.(ast.Object)
	if !ok {
		return fmt.Errorf("decision.obligations is %s, not an object", ast.ValueName(t.Value))
	}
	if m := ob.Get(ast.InternedTerm("mask")); m != nil {
		mo, ok := m.Value.(ast.Object)
		if !ok {
			return fmt.Errorf("decision.obligations.mask is %s, not an object", ast.ValueName(m.Value))
		}
		d.Mask = make(map[string]string, mo.Len())
		d.masks = make(map[string]maskRule, mo.Len())
		var ferr error
		mo.Foreach(func(k, v *ast.Term) {
			field, ok1 := k.Value.(ast.String)
			rule, ok2 := v.Value.(ast.String)
			if !ok1 || !ok2 {
				ferr = fmt.Errorf("decision.obligations.mask: %v: %v is not a field name and a rule", k, v)
				return
			}
			m, err := parseMask(string(rule))
			if err != nil {
				ferr = fmt.Errorf("decision.obligations.mask.%s: %w", field, err)
				return
			}
			d.Mask[string(field)] = string(rule)
			d.masks[string(field)] = m
		})
		if ferr != nil {
			return ferr
		}
	}
	if q := ob.Get(ast.InternedTerm("quota")); q != nil {
		if err := ast.As(q.Value, &d.Quota); err != nil {
			return fmt.Errorf("decision.obligations.quota: %w", err)
		}
	}
	return nil
}

func boolField(obj ast.Object, name string) (bool, error) {
	t := obj.Get(ast.InternedTerm(name))
	if t == nil {
		return false, fmt.Errorf("decision.%s is missing", name)
	}
	b, ok := t.Value.(ast.Boolean)
	if !ok {
		return false, fmt.Errorf("decision.%s is %s, not a boolean", name, ast.ValueName(t.Value))
	}
	return bool(b), nil
}

func stringField(obj ast.Object, name string) (string, error) {
	t := obj.Get(ast.InternedTerm(name))
	if t == nil {
		return "", nil
	}
	s, ok := t.Value.(ast.String)
	if !ok {
		return "", fmt.Errorf("decision.%s is %s, not a string", name, ast.ValueName(t.Value))
	}
	return string(s), nil
}

func stringsField(obj ast.Object, name string) ([]string, error) {
	t := obj.Get(ast.InternedTerm(name))
	if t == nil {
		return nil, nil
	}
	var out []string
	var err error
	each := func(e *ast.Term) {
		s, ok := e.Value.(ast.String)
		if !ok {
			err = fmt.Errorf("decision.%s holds %v, not a string", name, e)
			return
		}
		out = append(out, string(s))
	}
	if err := forEachElement(t, name, each); err != nil {
		return nil, err
	}
	return out, err
}

func reasonsField(obj ast.Object) ([]Reason, error) {
	t := obj.Get(ast.InternedTerm("reasons"))
	if t == nil {
		return nil, nil
	}
	var out []Reason
	var err error
	each := func(e *ast.Term) {
		ro, ok := e.Value.(ast.Object)
		if !ok {
			err = fmt.Errorf("decision.reasons holds %v, not an object", e)
			return
		}
		code, _ := stringField(ro, "code")
		msg, _ := stringField(ro, "message")
		if code == "" {
			err = fmt.Errorf("decision.reasons holds %v, without a code", e)
			return
		}
		out = append(out, Reason{Code: code, Message: msg})
	}
	if err := forEachElement(t, "reasons", each); err != nil {
		return nil, err
	}
	return out, err
}

// forEachElement calls each for every element of decision.<name>, an array or a set (a
// Rego partial set rule gives a set).
func forEachElement(t *ast.Term, name string, each func(*ast.Term)) error {
	switch c := t.Value.(type) {
	case *ast.Array:
		c.Foreach(each)
	case ast.Set:
		c.Foreach(each)
	default:
		return fmt.Errorf("decision.%s is %s, not an array", name, ast.ValueName(t.Value))
	}
	return nil
}
