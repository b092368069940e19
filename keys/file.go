package keys

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// FileStore keeps each key in a directory of its own, one file per version:
// <dir>/<name>/<number>.pem, mode 0600. It refuses to read a version others can read.
type FileStore struct {
	Dir string
}

// NewFileStore opens (creating) a file store in dir, which must not be readable by others.
func NewFileStore(dir string) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("key store %s: %w", dir, err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("key store %s: %w", dir, err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key store %s: mode %o lets others in; chmod 700", dir, info.Mode().Perm())
	}
	return &FileStore{Dir: dir}, nil
}

func (s *FileStore) versions(name string) ([]int, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(s.Dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".pem"))
		if err != nil || n <= 0 || !strings.HasSuffix(e.Name(), ".pem") {
			continue
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	sort.Ints(out)
	return out, nil
}

// Latest returns the newest version of name.
func (s *FileStore) Latest(ctx context.Context, name string) (*Version, error) {
	vs, err := s.versions(name)
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, name, vs[len(vs)-1])
}

// Get reads one version.
func (s *FileStore) Get(_ context.Context, name string, number int) (*Version, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	path := filepath.Join(s.Dir, name, strconv.Itoa(number)+".pem")
	info, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s version %d: %w", name, number, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key %s version %d: %s has mode %o, readable by others; chmod 600", name, number, path, info.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return &Version{Name: name, Number: number, Data: data, Created: info.ModTime()}, nil
}

// Put writes the next version of name, atomically (a reader sees all of it or nothing).
func (s *FileStore) Put(_ context.Context, name string, data []byte) (*Version, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.Dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	next := 1
	if vs, err := s.versions(name); err == nil {
		next = vs[len(vs)-1] + 1
	}
	tmp, err := os.CreateTemp(dir, ".new-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, strconv.Itoa(next)+".pem")
	// Link, not rename: a concurrent Put of the same number fails instead of replacing.
	if err := os.Link(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("put %s version %d: %w", name, next, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	return &Version{Name: name, Number: next, Data: data, Created: info.ModTime()}, nil
}

// List returns every key with all its versions, oldest first.
func (s *FileStore) List(ctx context.Context) ([]Summary, error) {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, err
	}
	var out []Summary
	for _, e := range entries {
		if !e.IsDir() || CheckName(e.Name()) != nil {
			continue
		}
		sum, err := s.summary(e.Name())
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	return out, nil
}

// summary lists name's versions; the creation time of a file version is its file's.
func (s *FileStore) summary(name string) (Summary, error) {
	nums, err := s.versions(name)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Name: name}
	for _, n := range nums {
		info, err := os.Stat(filepath.Join(s.Dir, name, strconv.Itoa(n)+".pem"))
		if err != nil {
			return Summary{}, fmt.Errorf("key %s version %d: %w", name, n, err)
		}
		sum.Versions = append(sum.Versions, VersionInfo{Number: n, Created: info.ModTime()})
	}
	last := sum.Versions[len(sum.Versions)-1]
	sum.Latest, sum.Created = last.Number, last.Created
	return sum, nil
}
