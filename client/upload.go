package client

import (
	"fmt"
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
		return nil, 0, "", fmt.Errorf("read body %s: not a regular file (an upload is read twice: for its digest, then sent)", path)
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
