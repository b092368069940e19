package policy

import (
	"bytes"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"
)

// Format returns each Rego module in opa fmt's canonical layout, keyed by path, for the
// modules whose layout differs. The files stay plain Rego: opa fmt gives the same result.
func Format(files *Files) (map[string][]byte, error) {
	changed := map[string][]byte{}
	for _, p := range sortedKeys(files.Modules) {
		src := files.Modules[p]
		out, err := format.SourceWithOpts(p, src, format.Opts{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("format %s: %w", p, err)
		}
		if !bytes.Equal(out, src) {
			changed[p] = out
		}
	}
	return changed, nil
}
