package client_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto"
)

// TestSaveResumed: a download interrupted after some bytes continues with a 206 from
// where the file ends; the whole file is then checked against the provider's Repr-Digest,
// and a file that does not match it, a part that starts elsewhere, or an answer that states
// no whole digest fails.
func TestSaveResumed(t *testing.T) {
	whole := make([]byte, 200_000)
	rand.Read(whole)
	sum := crypto.SM3(whole)
	repr := "sm3=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	partial := func(from int, digest string) *client.Response {
		return &client.Response{Status: 206, Body: whole[from:], Header: map[string][]string{
			"Content-Range": {fmt.Sprintf("bytes %d-%d/%d", from, len(whole)-1, len(whole))}, "Repr-Digest": {digest}}}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "archive.zip")
	if err := os.WriteFile(path, whole[:70_000], 0o644); err != nil {
		t.Fatal(err)
	}
	off, err := client.ResumeOffset(path)
	if err != nil || off != 70_000 || client.RangeFrom(off) != "bytes=70000-" {
		t.Fatalf("%d %v", off, err)
	}
	if err := client.SaveResumed(path, off, partial(70_000, repr)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(whole) {
		t.Fatal("the resumed file is not the whole")
	}

	os.WriteFile(path, whole[:70_000], 0o644)
	if err := client.SaveResumed(path, 70_000, partial(60_000, repr)); err == nil {
		t.Error("a part starting before the file's end was appended")
	}
	os.WriteFile(path, append([]byte("X"), whole[1:70_000]...), 0o644)
	if err := client.SaveResumed(path, 70_000, partial(70_000, repr)); !errors.Is(err, client.ErrTransferIncomplete) {
		t.Errorf("a file whose first part was corrupted verified: %v", err)
	}
	os.WriteFile(path, whole[:70_000], 0o644)
	if err := client.SaveResumed(path, 70_000, partial(70_000, "")); !errors.Is(err, client.ErrResumeUnverified) {
		t.Errorf("a resume without a whole digest passed: %v", err)
	}
	if off, err := client.ResumeOffset(filepath.Join(dir, "none")); off != 0 || err != nil {
		t.Errorf("no file: %d %v", off, err)
	}
}
