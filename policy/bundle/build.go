package bundle

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"time"

	opabundle "github.com/open-policy-agent/opa/v1/bundle"

	"github.com/govgate/govgate/policy"
)

// Build packs files into a gzipped OPA bundle whose manifest names revision (the files'
// revision ID when empty). The data files are merged, and checked, into one data.json at
// the root; the modules keep their paths. OPA's own loader reads the result.
func Build(files *policy.Files, revision string) ([]byte, error) {
	data, err := files.MergedData()
	if err != nil {
		return nil, fmt.Errorf("build bundle: %w", err)
	}
	if revision == "" {
		revision = files.ID()
	}
	b := opabundle.Bundle{
		Manifest: opabundle.Manifest{
			Revision: revision,
			Metadata: map[string]any{"built_at": time.Now().UTC().Format(time.RFC3339)},
		},
		Data: data,
	}
	b.Manifest.Init()
	for _, p := range sortedKeys(files.Modules) {
		b.Modules = append(b.Modules, opabundle.ModuleFile{URL: "/" + p, Path: "/" + p, Raw: files.Modules[p]})
	}
	var out bytes.Buffer
	// DisableFormat: the bundle carries the officers' files as written, byte for byte.
	if err := opabundle.NewWriter(&out).DisableFormat(true).Write(b); err != nil {
		return nil, fmt.Errorf("build bundle: %w", err)
	}
	return out.Bytes(), nil
}

// BuildDir reads a policy directory and builds its bundle.
func BuildDir(dir, revision string) ([]byte, error) {
	files, err := policy.ReadFiles(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("build bundle from %s: %w", dir, err)
	}
	return Build(files, revision)
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
