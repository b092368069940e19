package client

import (
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/govgate/govgate/crypto"
)

// Uploads: a file sent as a request body (Request.BodyFile, govgate call --data-binary
// @FILE and -T FILE) is never held in memory. It is read twice: once for its SM3
// Content-Digest, which the request signature covers, then again as the body streams
// (fasthttp's Request.SetBodyStream, with its Content-Length). The gateway checks the body
// against the signed digest as it passes (an exchange or publish route streams it to the
// provider): a file that changed between the two reads is refused there, at its end, as
// content_digest_mismatch, and the provider never receives it whole.

// MaxStdinBody bounds a body read from standard input (--data-binary @-): a pipe cannot
// be read twice, so it is buffered, and a larger one is refused — save it to a file.
const MaxStdinBody = 64 << 20

// openUpload opens path for an upload: a regular file (it is read twice), its size, and,
// when digest is asked for, its Content-Digest value, the file positioned at its start.
func openUpload(path string, digest bool) (f *os.File, size int64, contentDigest string, err error) {
	// Refused before it is opened: opening a FIFO waits for a writer, for ever.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, 0, "", errNotRegular(path)
	}
	f, err = os.Open(path)
	if err != nil {
		return nil, 0, "", fmt.Errorf("read body: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, "", fmt.Errorf("read body %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, 0, "", errNotRegular(path)
	}
	if !digest {
		return f, st.Size(), "", nil
	}
	h := crypto.NewSM3()
	n, err := io.CopyBuffer(h, f, make([]byte, CopyBuffer))
	if err != nil {
		return nil, 0, "", fmt.Errorf("digest body %s: %w", path, err)
	}
	if n != st.Size() {
		return nil, 0, "", fmt.Errorf("digest body %s: %d bytes read, %d stated: the file is changing", path, n, st.Size())
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, "", fmt.Errorf("read body %s: %w", path, err)
	}
	return f, n, crypto.ContentDigestOf(h.Sum(nil)), nil
}

// ErrStdinTooLarge is a body on standard input longer than MaxStdinBody.
var ErrStdinTooLarge = fmt.Errorf("the body on standard input exceeds %d MiB: it is buffered (a pipe cannot be read twice, for the digest and to send); save it to a file and send it with --data-binary @FILE, which streams", MaxStdinBody>>20)

// ReadStdinBody reads a body from r (standard input), at most MaxStdinBody bytes.
func ReadStdinBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxStdinBody+1))
	if err != nil {
		return nil, fmt.Errorf("read body from standard input: %w", err)
	}
	if len(b) > MaxStdinBody {
		return nil, ErrStdinTooLarge
	}
	return b, nil
}

func errNotRegular(path string) error {
	return fmt.Errorf("read body %s: not a regular file (an upload is read twice: for its digest, then sent); send a pipe or a device through standard input (@-)", path)
}

// ErrBodyChanged is a file sent as a body (Request.BodyFile) that is not the file whose
// digest was signed: it changed, grew shorter, or could not be read again.
var ErrBodyChanged = errors.New("the file changed after its digest was signed")

// checkedBody is a file streamed as a body, read again as it was digested: its last bytes
// are handed on only once the whole file has been found to be the one signed (its size,
// its SM3), so that a changed file fails here, with ErrBodyChanged, rather than only at
// the gateway, as a body that does not match its signature.
type checkedBody struct {
	f      *os.File
	path   string
	size   int64
	n      int64
	digest string // the Content-Digest signed; "" for an unsigned request: size only
	h      hash.Hash
	err    error
}

func newCheckedBody(f *os.File, path string, size int64, digest string) *checkedBody {
	return &checkedBody{f: f, path: path, size: size, digest: digest, h: crypto.NewSM3()}
}

// Read implements io.Reader for the request writer, which reads exactly size bytes.
func (b *checkedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	rem := b.size - b.n
	if rem == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := b.f.Read(p)
	b.h.Write(p[:n])
	b.n += int64(n)
	switch {
	case b.n == b.size:
		if b.digest != "" && crypto.ContentDigestOf(b.h.Sum(nil)) != b.digest {
			b.err = fmt.Errorf("send body %s: %w: not sent whole (the gateway refuses a body that is not the one signed); send it again once it no longer changes", b.path, ErrBodyChanged)
			return 0, b.err
		}
		return n, nil
	case err == io.EOF:
		b.err = fmt.Errorf("send body %s: %w: it ended after %d of its %d bytes", b.path, ErrBodyChanged, b.n, b.size)
		return 0, b.err
	case err != nil:
		b.err = fmt.Errorf("send body %s: %w: %w", b.path, ErrBodyChanged, err)
		return 0, b.err
	}
	return n, nil
}
