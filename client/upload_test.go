package client

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/govgate/govgate/crypto"
)

// TestReadStdinBodyBounded: standard input is buffered up to MaxStdinBody and refused
// beyond, with an error that says to send a file instead.
func TestReadStdinBodyBounded(t *testing.T) {
	b, err := ReadStdinBody(bytes.NewReader(make([]byte, MaxStdinBody)))
	if err != nil || len(b) != MaxStdinBody {
		t.Fatalf("%d bytes, %v", len(b), err)
	}
	if _, err := ReadStdinBody(bytes.NewReader(make([]byte, MaxStdinBody+1))); !errors.Is(err, ErrStdinTooLarge) || !strings.Contains(err.Error(), "@FILE") {
		t.Fatalf("over the bound: %v", err)
	}
}

// TestOpenUploadDigestsThenRewinds: a file is digested and positioned at its start; a
// directory or a pipe (which cannot be read twice) is refused.
func TestOpenUploadDigestsThenRewinds(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "changes.csv")
	body := []byte("uscc,name\r\n91110108MA01A2B3C4,北京数联科技有限公司\r\n")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	f, size, digest, err := openUpload(path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make([]byte, 2*len(body))
	n, _ := f.Read(got)
	if size != int64(len(body)) || digest != crypto.ContentDigest(body) || !bytes.Equal(got[:n], body) {
		t.Errorf("size %d digest %s read %q", size, digest, got[:n])
	}
	if _, _, _, err := openUpload(dir, true); err == nil {
		t.Error("a directory was accepted as a body")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, _, _, err := openUpload("/dev/fd/"+strconv.Itoa(int(r.Fd())), true); err == nil {
		t.Error("a pipe was accepted as a body")
	}
}
