package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/crypto/tlcp"
)

// TestDemoPKIIssueFiles: a new demo data directory has each department's fullchain files;
// one written by a govgate that named them <file>-sign.pem gets them at the next start.
func TestDemoPKIIssueFiles(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := ensureDemoPKI(ctx, dir); err != nil {
		t.Fatal(err)
	}
	d := demoDepartments()[0]
	loads := func() error {
		_, err := tlcp.LoadIdentity(certs.PairFile(dir, d.file, "sign", certs.FullchainSuffix), certs.PairFile(dir, d.file, "sign", certs.KeySuffix),
			certs.PairFile(dir, d.file, "enc", certs.FullchainSuffix), certs.PairFile(dir, d.file, "enc", certs.KeySuffix), nil)
		return err
	}
	if err := loads(); err != nil {
		t.Fatal(err)
	}
	// The older layout: the fullchain files are missing.
	for _, use := range []string{"sign", "enc"} {
		os.Rename(certs.PairFile(dir, d.file, use, certs.FullchainSuffix), filepath.Join(dir, d.file+"-"+use+".pem"))
	}
	if _, err := ensureDemoPKI(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if err := loads(); err != nil {
		t.Fatalf("after a start on older data: %v", err)
	}
}
