package policy

import "fmt"

// MergedData is the data document the revision's data files make together, every file
// placed at its directory's path and checked as Compile checks it. A policy bundle
// carries it as one data.json at the bundle's root, as `opa build` does.
func (f *Files) MergedData() (map[string]any, error) {
	root, src, err := mergeData(f.Data)
	if err != nil {
		return nil, fmt.Errorf("policy data: %w", err)
	}
	if _, err := parseData(root, src); err != nil {
		return nil, fmt.Errorf("policy data: %w", err)
	}
	return root, nil
}
