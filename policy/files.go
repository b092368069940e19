package policy

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/govgate/govgate/crypto"
)

// Files are one revision's policy sources as read from a directory: Rego modules and data
// documents (JSON or YAML), keyed by slash-separated path relative to the directory.
type Files struct {
	Modules map[string][]byte
	Data    map[string][]byte
}

// maxPolicyFile bounds one file: a policy directory is edited by people, and a file this
// large is a mistake (a dump copied in), not a policy.
const maxPolicyFile = 64 << 20

// ReadFiles reads every .rego, .json, .yaml and .yml file under fsys, skipping hidden files
// and directories (editors' swap files, .git). Other files are ignored, as opa does.
func ReadFiles(fsys fs.FS) (*Files, error) {
	f := &Files{Modules: map[string][]byte{}, Data: map[string][]byte{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		var into map[string][]byte
		switch path.Ext(p) {
		case ".rego":
			into = f.Modules
		case ".json", ".yaml", ".yml":
			into = f.Data
		default:
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > maxPolicyFile {
			return fmt.Errorf("%s: %d bytes, more than the %d a policy file may have", p, info.Size(), maxPolicyFile)
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		into[p] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read policy files: %w", err)
	}
	if len(f.Modules) == 0 {
		return nil, errors.New("read policy files: no .rego file found")
	}
	return f, nil
}

// ID names the revision: the SM3 digest, in hex, of every file's path and contents in path
// order, cut to 128 bits. Two gateways with the same files report the same revision.
func (f *Files) ID() string {
	var b []byte
	for _, set := range []map[string][]byte{f.Modules, f.Data} {
		for _, p := range sortedKeys(set) {
			b = fmt.Appendf(b, "%s\x00%d\x00", p, len(set[p]))
			b = append(b, set[p]...)
		}
	}
	sum := crypto.SM3(b)
	return hex.EncodeToString(sum[:16])
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isTestModule reports whether a module holds Rego tests, which are compiled and run before
// a revision goes live but never take part in a decision.
func isTestModule(p string) bool { return strings.HasSuffix(p, "_test.rego") }
