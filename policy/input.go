package policy

import (
	"encoding/binary"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Input is what the gateway knows of one exchange, the input of DESIGN.md's policy
// contract. The resource is named by id; the revision fills in the rest from its catalog.
type Input struct {
	Subject  Subject
	Request  Request
	Route    Route
	Resource string
	Time     time.Time
}

// Subject is the authenticated consumer.
type Subject struct {
	Dept       string
	System     string
	CertSerial string
	Auth       string
	Signed     bool
}

// Request is what the consumer asked for and declared.
type Request struct {
	Method    string
	Path      string
	Query     map[string]string // first value of each parameter; filled only if the policy reads it
	Purpose   string
	Agreement string
}

// Route is the route the request matched and the zones the data crosses.
type Route struct {
	ID         string
	Mode       string
	SourceZone string // the consumer's side: the listener's zone
	TargetZone string // the provider's side
}

// The input leaves a policy can read, as paths. A read of a path selects every leaf it
// is a prefix of, or that is a prefix of it; keys for the decision cache are made of the
// selected leaves only. time is not among them: see Revision.expiry.
var inputLeaves = [...][]string{
	leafDept:       {"subject", "dept"},
	leafSystem:     {"subject", "system"},
	leafCertSerial: {"subject", "cert_serial"},
	leafAuth:       {"subject", "auth"},
	leafSigned:     {"subject", "signed"},
	leafMethod:     {"request", "method"},
	leafPath:       {"request", "path"},
	leafQuery:      {"request", "query"},
	leafPurpose:    {"request", "purpose"},
	leafAgreement:  {"request", "agreement"},
	leafRouteID:    {"route", "id"},
	leafMode:       {"route", "mode"},
	leafSourceZone: {"route", "source_zone"},
	leafTargetZone: {"route", "target_zone"},
	leafResource:   {"resource"},
	leafTime:       {"time"},
}

const (
	leafDept = iota
	leafSystem
	leafCertSerial
	leafAuth
	leafSigned
	leafMethod
	leafPath
	leafQuery
	leafPurpose
	leafAgreement
	leafRouteID
	leafMode
	leafSourceZone
	leafTargetZone
	leafResource
	leafTime
	numLeaves
)

// leafSet is a set of input leaves.
type leafSet uint32

func (s leafSet) has(leaf int) bool { return s&(1<<leaf) != 0 }

// value builds the input as an AST value directly, without a JSON round trip.
func (in *Input) value(rev *Revision) ast.Value {
	query := ast.NewObject()
	for k, v := range in.Request.Query {
		query.Insert(ast.StringTerm(k), ast.StringTerm(v))
	}
	resource := rev.resourceTerms[in.Resource]
	if resource == nil {
		resource = ast.ObjectTerm(ast.Item(ast.InternedTerm("id"), ast.StringTerm(in.Resource)))
	}
	return ast.NewObject(
		ast.Item(ast.InternedTerm("subject"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("dept"), ast.StringTerm(in.Subject.Dept)),
			ast.Item(ast.InternedTerm("system"), ast.StringTerm(in.Subject.System)),
			ast.Item(ast.InternedTerm("cert_serial"), ast.StringTerm(in.Subject.CertSerial)),
			ast.Item(ast.InternedTerm("auth"), ast.StringTerm(in.Subject.Auth)),
			ast.Item(ast.InternedTerm("signed"), ast.InternedTerm(in.Subject.Signed)),
		)),
		ast.Item(ast.InternedTerm("request"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("method"), ast.StringTerm(in.Request.Method)),
			ast.Item(ast.InternedTerm("path"), ast.StringTerm(in.Request.Path)),
			ast.Item(ast.InternedTerm("query"), ast.NewTerm(query)),
			ast.Item(ast.InternedTerm("purpose"), ast.StringTerm(in.Request.Purpose)),
			ast.Item(ast.InternedTerm("agreement"), ast.StringTerm(in.Request.Agreement)),
		)),
		ast.Item(ast.InternedTerm("route"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("id"), ast.StringTerm(in.Route.ID)),
			ast.Item(ast.InternedTerm("mode"), ast.StringTerm(in.Route.Mode)),
			ast.Item(ast.InternedTerm("source_zone"), ast.StringTerm(in.Route.SourceZone)),
			ast.Item(ast.InternedTerm("target_zone"), ast.StringTerm(in.Route.TargetZone)),
		)),
		ast.Item(ast.InternedTerm("resource"), resource),
		ast.Item(ast.InternedTerm("time"), ast.StringTerm(in.Time.UTC().Format(time.RFC3339Nano))),
	)
}

// appendKey appends the values of the selected leaves, each prefixed by its length, so
// that two inputs share a key only if the policy cannot tell them apart.
func (in *Input) appendKey(b []byte, leaves leafSet) []byte {
	str := func(leaf int, s string) {
		if !leaves.has(leaf) {
			b = append(b, 0)
			return
		}
		b = binary.AppendUvarint(b, uint64(len(s))+1)
		b = append(b, s...)
	}
	str(leafDept, in.Subject.Dept)
	str(leafSystem, in.Subject.System)
	str(leafCertSerial, in.Subject.CertSerial)
	str(leafAuth, in.Subject.Auth)
	if leaves.has(leafSigned) && in.Subject.Signed {
		b = append(b, 1)
	}
	b = append(b, 0)
	str(leafMethod, in.Request.Method)
	str(leafPath, in.Request.Path)
	if leaves.has(leafQuery) {
		b = binary.AppendUvarint(b, uint64(len(in.Request.Query)))
		for _, k := range sortedKeys(in.Request.Query) {
			b = binary.AppendUvarint(b, uint64(len(k)))
			b = append(b, k...)
			b = binary.AppendUvarint(b, uint64(len(in.Request.Query[k])))
			b = append(b, in.Request.Query[k]...)
		}
	}
	str(leafPurpose, in.Request.Purpose)
	str(leafAgreement, in.Request.Agreement)
	str(leafRouteID, in.Route.ID)
	str(leafMode, in.Route.Mode)
	str(leafSourceZone, in.Route.SourceZone)
	str(leafTargetZone, in.Route.TargetZone)
	str(leafResource, in.Resource)
	return b
}
