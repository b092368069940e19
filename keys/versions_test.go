package keys

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// TestListVersions: both stores list every version of a key, oldest first, with its
// creation time, and Latest is the one a gateway reads. A Vault version deleted by an
// administrator is listed as deleted, not as usable.
func TestListVersions(t *testing.T) {
	ctx := context.Background()
	v := startVault(t)
	vs, err := NewVaultStore(ctx, VaultConfig{Address: v.addr, Token: v.token, Prefix: "govgate/gw-versions"})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := NewFileStore(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Store{fs, vs} {
		for i := 1; i <= 3; i++ {
			if _, err := s.Put(ctx, "tlcp-sign", []byte(fmt.Sprintf("pem-%d", i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := v.root(t).KVv2("secret").DeleteVersions(ctx, "govgate/gw-versions/tlcp-sign", []int{1}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		s          Store
		deletedOne bool
	}{"file": {fs, false}, "vault": {vs, true}} {
		list, err := c.s.List(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("%s: list %+v %v", name, list, err)
		}
		k := list[0]
		if k.Latest != 3 || len(k.Versions) != 3 {
			t.Fatalf("%s: %+v", name, k)
		}
		for i, ver := range k.Versions {
			if ver.Number != i+1 || ver.Created.IsZero() {
				t.Errorf("%s version %d: %+v", name, i+1, ver)
			}
			if want := c.deletedOne && i == 0; ver.Deleted != want {
				t.Errorf("%s version %d: deleted %v, want %v", name, i+1, ver.Deleted, want)
			}
		}
		if !k.Created.Equal(k.Versions[2].Created) {
			t.Errorf("%s: created %v is not the latest version's %v", name, k.Created, k.Versions[2].Created)
		}
	}
}
