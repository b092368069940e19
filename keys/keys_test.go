package keys

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFileStoreVersions(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "keys")
	s, err := NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Latest(ctx, "audit-signing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty store: %v", err)
	}
	for i := 1; i <= 3; i++ {
		v, err := s.Put(ctx, "audit-signing", []byte{byte(i)})
		if err != nil || v.Number != i {
			t.Fatalf("put %d: %+v %v", i, v, err)
		}
	}
	v, err := s.Latest(ctx, "audit-signing")
	if err != nil || v.Number != 3 || v.Data[0] != 3 {
		t.Fatalf("latest: %+v %v", v, err)
	}
	if old, err := s.Get(ctx, "audit-signing", 1); err != nil || old.Data[0] != 1 {
		t.Errorf("an old version is not kept: %v", err)
	}
	info, _ := os.Stat(filepath.Join(dir, "audit-signing", "3.pem"))
	if info.Mode().Perm() != 0o600 {
		t.Errorf("version written with mode %o", info.Mode().Perm())
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].Latest != 3 {
		t.Errorf("list: %+v %v", list, err)
	}
	// A version others can read is refused, and so are names that are paths.
	os.Chmod(filepath.Join(dir, "audit-signing", "3.pem"), 0o644)
	if _, err := s.Latest(ctx, "audit-signing"); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("world-readable key: %v", err)
	}
	for _, bad := range []string{"../x", "A", "", "a/b", ".hidden"} {
		if _, err := s.Put(ctx, bad, []byte("x")); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	os.Chmod(dir, 0o755)
	if _, err := NewFileStore(dir); err == nil {
		t.Error("a store directory others can enter was opened")
	}
}

// flakyStore fails while down is set.
type flakyStore struct {
	Store
	mu   sync.Mutex
	down bool
}

func (f *flakyStore) Latest(ctx context.Context, name string) (*Version, error) {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return nil, errors.New("connection refused")
	}
	return f.Store.Latest(ctx, name)
}

func TestWatcherAppliesChecksAndSurvivesOutages(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fs, _ := NewFileStore(filepath.Join(t.TempDir(), "keys"))
	store := &flakyStore{Store: fs}
	fs.Put(ctx, "tlcp", []byte("good-1"))
	var mu sync.Mutex
	var applied []string
	w := &Watcher{What: "test key", Store: store, Names: []string{"tlcp"}, Interval: 10 * time.Millisecond, Apply: func(vs []*Version) error {
		v := vs[0]
		if strings.HasPrefix(string(v.Data), "bad") {
			return errors.New("not a PEM key")
		}
		mu.Lock()
		applied = append(applied, string(v.Data))
		mu.Unlock()
		return nil
	}}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	fs.Put(ctx, "tlcp", []byte("bad-2"))
	fs.Put(ctx, "tlcp", []byte("good-3"))
	wait("version 3", func() bool { return w.Current()[0] == 3 })
	fs.Put(ctx, "tlcp", []byte("bad-4"))
	time.Sleep(50 * time.Millisecond)
	if w.Current()[0] != 3 {
		t.Errorf("a malformed version replaced the current one: %d", w.Current()[0])
	}
	store.mu.Lock()
	store.down = true
	store.mu.Unlock()
	wait("the outage to be noticed", func() bool { return w.Err() != nil })
	if w.Current()[0] != 3 {
		t.Error("the current version was dropped during an outage")
	}
	store.mu.Lock()
	store.down = false
	store.mu.Unlock()
	fs.Put(ctx, "tlcp", []byte("good-5"))
	wait("version 5 after the outage", func() bool { return w.Current()[0] == 5 && w.Err() == nil })
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(applied, ",") != "good-1,good-3,good-5" {
		t.Errorf("applied %v", applied)
	}
}

// TestWatcherSwapsAPairWhole: two names are read and applied together — a new version of
// either hands Apply both — a set Apply refuses leaves the last good one in use and is
// not retried until something changes, and a replaced file triggers Apply like a version.
func TestWatcherSwapsAPairWhole(t *testing.T) {
	ctx := context.Background()
	fs, _ := NewFileStore(filepath.Join(t.TempDir(), "keys"))
	fs.Put(ctx, "sign", []byte("sign-1"))
	fs.Put(ctx, "enc", []byte("enc-1"))
	file := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(file, []byte("ca-1"), 0o644)
	var applied []string
	w := &Watcher{What: "pair", Store: fs, Names: []string{"sign", "enc"}, Files: []string{file}, Interval: time.Hour,
		Apply: func(vs []*Version) error {
			if len(vs) != 2 {
				return fmt.Errorf("%d versions", len(vs))
			}
			pair := string(vs[0].Data) + "+" + string(vs[1].Data)
			if strings.Contains(pair, "bad") {
				return errors.New("mismatched pair")
			}
			applied = append(applied, pair)
			return nil
		}}
	if err := w.Load(ctx); err != nil {
		t.Fatal(err)
	}
	fs.Put(ctx, "enc", []byte("enc-2")) // the encryption half alone: applied with its signing half
	w.Poll(ctx)
	fs.Put(ctx, "sign", []byte("bad-2")) // refused: the pair in use stays
	w.Poll(ctx)
	w.Poll(ctx) // nothing changed: not tried again
	if got := w.Current(); !slices.Equal(got, []int{1, 2}) || w.Refused() != 1 {
		t.Errorf("after a refused pair: versions %v, refused %d", got, w.Refused())
	}
	fs.Put(ctx, "sign", []byte("sign-3"))
	w.Poll(ctx)
	// A replaced file: applied again with the versions in use.
	later := time.Now().Add(time.Minute)
	os.Chtimes(file, later, later)
	w.Poll(ctx)
	if want := "sign-1+enc-1,sign-1+enc-2,sign-3+enc-2,sign-3+enc-2"; strings.Join(applied, ",") != want {
		t.Errorf("applied %s, want %s", strings.Join(applied, ","), want)
	}
	if got := w.Current(); !slices.Equal(got, []int{3, 2}) {
		t.Errorf("versions in use %v, want [3 2]", got)
	}
}
