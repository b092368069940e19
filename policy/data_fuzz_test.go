package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"path"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	shipped "github.com/govgate/govgate/rego"
)

// FuzzDataFile feeds officer-supplied bytes to the data loader as a YAML or a JSON file:
// it must never panic or hang, every problem must carry a place inside the file, and what
// it accepts must be data OPA can hold.
func FuzzDataFile(f *testing.F) {
	_ = fs.WalkDir(shipped.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (path.Ext(p) == ".yaml" || path.Ext(p) == ".json") {
			b, _ := fs.ReadFile(shipped.FS(), p)
			f.Add(path.Ext(p) == ".json", b)
		}
		return nil
	})
	for _, body := range officerData {
		f.Add(false, []byte(body))
	}
	f.Add(false, []byte("a: &x [1, *x]\n"))
	f.Add(false, []byte("a: 1\na: 2\n"))
	f.Add(false, []byte("? [1, 2]\n: x\n"))
	f.Add(false, []byte("<<: [*a]\n"))
	f.Add(false, []byte("a:\n\t- b\n"))
	f.Add(true, []byte(`{"a": {"a": 1, "a": 2}}`))
	f.Add(true, []byte(`{"zones": {"x": {"ceiling": 1}}} []`))
	f.Add(true, []byte("{\"labels\": [\"\u00e9\", \n\"x\"],"))
	f.Fuzz(func(t *testing.T, asJSON bool, body []byte) {
		name := "data/f.yaml"
		if asJSON {
			name = "data/f.json"
		}
		root, src, err := mergeData(map[string][]byte{name: body, "top.yaml": []byte("labels: [a]\n")})
		if err != nil {
			var des DataErrors
			if !errors.As(err, &des) || len(des) == 0 {
				t.Fatalf("not a list of data errors: %T %v", err, err)
			}
			// YAML breaks lines at \r too, and at NEL, LS and PS: count them all.
			lines := 1
			for _, sep := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
				lines += bytes.Count(body, []byte(sep))
			}
			for _, e := range des {
				if e.Pos.File != name || e.Pos.Line < 0 || e.Pos.Line > lines+1 {
					t.Fatalf("problem placed outside the file (%d lines): %v", lines, e)
				}
			}
			return
		}
		if _, err := json.Marshal(root); err != nil {
			t.Fatalf("accepted data JSON cannot say: %v", err)
		}
		if _, err := ast.InterfaceToValue(root); err != nil {
			t.Fatalf("accepted data OPA cannot hold: %v", err)
		}
		_ = src.find(dataPath{}.key("data").key("f"))
		_, _ = parseData(root, src) // must not panic on any shape
	})
}
