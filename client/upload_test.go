package client

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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

// TestOpenUploadRefusesAFIFO: a named pipe given as @FILE is refused at once, not opened
// (opening it would wait for a writer for ever); so is a device.
func TestOpenUploadRefusesAFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	for _, p := range []string{path, os.DevNull} {
		done := make(chan error, 1)
		go func() {
			f, _, _, err := openUpload(p, true)
			if f != nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s: %v", p, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: opening the body waits for a writer", p)
		}
	}
}

// TestCheckedBodyRefusesAChangedFile: a file changed between its digest and its sending —
// a byte changed, cut shorter — fails with ErrBodyChanged before its last bytes are handed
// on, so the request writer never sends it whole; a file grown longer sends exactly the
// bytes that were signed; an unchanged file passes.
func TestCheckedBodyRefusesAChangedFile(t *testing.T) {
	body := bytes.Repeat([]byte("91110108MA01A2B3C4,北京数联科技有限公司\r\n"), 10000)
	for _, tc := range []struct {
		name   string
		change func(path string) error
		ok     bool
	}{
		{"unchanged", func(string) error { return nil }, true},
		{"a byte changed", func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte("X"), int64(len(body)/2))
			return err
		}, false},
		{"the last byte changed", func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte("X"), int64(len(body)-1))
			return err
		}, false},
		{"cut shorter", func(p string) error { return os.Truncate(p, int64(len(body)-1)) }, false},
		{"grown longer", func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write([]byte("appended\r\n"))
			return err
		}, true},
	} {
		for _, signed := range []bool{true, false} {
			path := filepath.Join(t.TempDir(), "changes.csv")
			if err := os.WriteFile(path, body, 0o600); err != nil {
				t.Fatal(err)
			}
			f, size, digest, err := openUpload(path, signed)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.change(path); err != nil {
				t.Fatal(err)
			}
			var sent bytes.Buffer
			_, err = io.Copy(&sent, io.LimitReader(newCheckedBody(f, path, size, digest), size))
			f.Close()
			ok := tc.ok || (!signed && tc.name != "cut shorter") // unsigned: the size is all there is to check
			switch {
			case ok && (err != nil || int64(sent.Len()) != size || (signed && !bytes.Equal(sent.Bytes(), body))):
				t.Errorf("%s, signed=%v: sent %d bytes, %v", tc.name, signed, sent.Len(), err)
			case !ok && (!errors.Is(err, ErrBodyChanged) || int64(sent.Len()) >= size):
				t.Errorf("%s, signed=%v: sent %d of %d bytes, %v", tc.name, signed, sent.Len(), size, err)
			}
		}
	}
}
