package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"

	opabundle "github.com/open-policy-agent/opa/v1/bundle"

	"github.com/govgate/govgate/policy"
)

// MaxBundleSize bounds a bundle as served (compressed) and each file in it: a policy is
// written by people, and anything larger is a mistake or an attack on the poller.
const MaxBundleSize = 64 << 20

// Loaded is a bundle unpacked: the revision's files as the policy engine reads them and
// the manifest's revision.
type Loaded struct {
	Files *policy.Files
	// Revision is the manifest's revision (what `govgate policy build --revision` set);
	// the engine's revision ID is still the SM3 digest of the files.
	Revision string
}

// Read unpacks a gzipped OPA bundle. It keeps .rego modules and data.json / data.yaml
// documents at their paths; a delta bundle, a Wasm module or a plan is refused, since the
// engine evaluates Rego only, and so is a bundle whose manifest narrows its roots (the
// gateway's policy owns the whole data tree). Call it only on verified bytes.
func Read(raw []byte) (*Loaded, error) {
	if len(raw) > MaxBundleSize {
		return nil, fmt.Errorf("read bundle: %d bytes, more than %d", len(raw), MaxBundleSize)
	}
	b, err := opabundle.NewReader(bytes.NewReader(raw)).
		WithLazyLoadingMode(true).
		WithSkipBundleVerification(true). // the detached SM2 signature was checked before
		WithSizeLimitBytes(MaxBundleSize).
		Read()
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	if b.Type() != opabundle.SnapshotBundleType {
		return nil, errors.New("read bundle: a delta bundle cannot carry a policy revision")
	}
	if len(b.WasmModules) > 0 || len(b.PlanModules) > 0 {
		return nil, errors.New("read bundle: Wasm modules and plans are not evaluated by the gateway")
	}
	if r := b.Manifest.Roots; r != nil && !(len(*r) == 1 && (*r)[0] == "") {
		return nil, fmt.Errorf("read bundle: manifest roots %q: a gateway's bundle must own the whole data tree (roots [\"\"])", *r)
	}
	files := &policy.Files{Modules: map[string][]byte{}, Data: map[string][]byte{}}
	for _, r := range b.Raw {
		p, err := cleanPath(r.Path)
		if err != nil {
			return nil, fmt.Errorf("read bundle: %w", err)
		}
		into := files.Data
		if strings.HasSuffix(p, ".rego") {
			into = files.Modules
		}
		if _, dup := into[p]; dup {
			return nil, fmt.Errorf("read bundle: %s appears twice", p)
		}
		into[p] = r.Value
	}
	if len(files.Modules) == 0 {
		return nil, errors.New("read bundle: no .rego file")
	}
	return &Loaded{Files: files, Revision: b.Manifest.Revision}, nil
}

// cleanPath turns a bundle path into the engine's slash path relative to the root,
// refusing one that climbs out or hides (a dot file would be skipped from a directory).
func cleanPath(p string) (string, error) {
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	if c == "" || c == "." || strings.Contains(p, "..") {
		return "", fmt.Errorf("bundle path %q is not a file below the root", p)
	}
	for _, part := range strings.Split(c, "/") {
		if strings.HasPrefix(part, ".") {
			return "", fmt.Errorf("bundle path %q has a hidden component", p)
		}
	}
	return c, nil
}
