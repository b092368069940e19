package rego

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed authz catalog fixtures *.yaml
var shipped embed.FS

// FS returns the shipped policy and example data, the default policy of every gateway
// that names no policy directory.
func FS() fs.FS { return shipped }

// WriteTo writes the shipped policy and example data into dir, the working copy a
// security officer starts from. Files are written 0644 (policy is not secret; it must be
// readable by those who audit it); an existing file is never overwritten.
func WriteTo(dir string) error {
	return fs.WalkDir(shipped, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := shipped.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
}
