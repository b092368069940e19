package wire

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// contract is every name of the wire contract, as a consumer or provider written against
// docs/architecture.md spells it. A change here is a change of the contract. (Two
// constants spelling one name would be duplicate keys, which do not compile.)
var contract = map[string]string{
	HeaderAgreement:      "X-Govgate-Agreement",
	HeaderPurpose:        "X-Govgate-Purpose",
	HeaderSignature:      "Signature",
	HeaderSignatureInput: "Signature-Input",
	HeaderContentDigest:  "Content-Digest",
	HeaderConsumerDept:   "X-Govgate-Consumer-Dept",
	HeaderConsumerSystem: "X-Govgate-Consumer-System",
	HeaderConsumerCert:   "X-Govgate-Consumer-Cert",
	HeaderSigned:         "X-Govgate-Signed",
	HeaderForwardedFor:   "X-Forwarded-For",
	HeaderForwardedProto: "X-Forwarded-Proto",
	HeaderRequestID:      "X-Request-Id",
	HeaderClassification: "X-Classification",
	HeaderReceipt:        "X-Govgate-Receipt",
	GovgatePrefix:        "X-Govgate-",
	FieldAgreement:       "x-govgate-agreement",
	FieldPurpose:         "x-govgate-purpose",
	FieldSignature:       "signature",
	FieldSignatureInput:  "signature-input",
	FieldContentDigest:   "content-digest",
	SignatureLabel:       "govgate",
	SignatureAlgorithm:   "sm2-sm3",
}

func TestNamesAreTheContract(t *testing.T) {
	for got, want := range contract {
		if got != want {
			t.Errorf("name %q, the contract says %q", got, want)
		}
	}
	for lower, canonical := range map[string]string{
		FieldAgreement: HeaderAgreement, FieldPurpose: HeaderPurpose, FieldSignature: HeaderSignature,
		FieldSignatureInput: HeaderSignatureInput, FieldContentDigest: HeaderContentDigest,
	} {
		if lower != strings.ToLower(canonical) {
			t.Errorf("%q is not %q in lower case", lower, canonical)
		}
	}
	for _, h := range []string{HeaderAgreement, HeaderPurpose, HeaderConsumerDept, HeaderConsumerSystem, HeaderConsumerCert, HeaderSigned, HeaderReceipt} {
		if !strings.HasPrefix(h, GovgatePrefix) {
			t.Errorf("%s does not start with %s, so the gateway would not strip a forged one", h, GovgatePrefix)
		}
	}
}

// TestNoHeaderLiteralOutsideWire: a header name of the contract written as a string
// literal in any non-test Go file of the module outside this package is a second home
// for it, free to drift. So is any literal X-Govgate-* name this package does not know.
func TestNoHeaderLiteralOutsideWire(t *testing.T) {
	names := map[string]bool{}
	for n := range contract {
		if n != SignatureLabel && n != SignatureAlgorithm { // ordinary words elsewhere
			names[strings.ToLower(n)] = true
		}
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	self, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == self || d.Name() == "testdata" || (path != root && strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		checked++
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			v = strings.ToLower(v)
			if names[v] || (strings.HasPrefix(v, "x-govgate-") && !strings.ContainsAny(v, " \t\n")) {
				rel, _ := filepath.Rel(root, fset.Position(lit.Pos()).Filename)
				t.Errorf("%s:%d: %s is a wire name; use the constant of package wire", rel, fset.Position(lit.Pos()).Line, lit.Value)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked %d files under %s: not the module", checked, root)
	}
}
