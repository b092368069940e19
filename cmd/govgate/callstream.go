package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/govgate/govgate/client"
)

// bodySink is where govgate call puts the answer's body while it streams: stdout, or the
// --output file through a client.Download (FILE.part, renamed to FILE once verified). An
// answer of 400 or more never touches the file: its body goes to stderr (none with -f);
// a 304 leaves it as it is (curl's -o with a conditional request).
type bodySink struct {
	cf             *callFlags
	dl             *client.Download
	stdout, stderr io.Writer
	verbose        bool
	toFile         bool // the body went to dl, which Finish must close
	last           lastByte
}

// open chooses the body's destination once the head is known.
func (s *bodySink) open(resp *client.Response) (io.Writer, error) {
	if s.verbose {
		prefixLines(s.stderr, "< ", resp.Head)
	}
	if *s.cf.include {
		io.WriteString(s.stdout, strings.ReplaceAll(string(resp.Head), "\r\n", "\n"))
	}
	switch {
	case s.continued(resp):
		s.toFile = true
		return s.dl.Open(resp)
	case resp.Status >= 400 && *s.cf.fail && !*s.cf.failWithBody:
		return io.Discard, nil
	case resp.Status >= 400 && s.dl != nil:
		return s.stderr, nil
	case resp.Status == 304 && s.dl != nil:
		return io.Discard, nil // the version held is current: the file stays as it is
	case s.dl != nil:
		s.toFile = true
		return s.dl.Open(resp)
	}
	s.last.w = s.stdout
	return &s.last, nil
}

// continued reports whether resp is a 416 to --continue-at: nothing past the file's end,
// which may already be whole (the download checks it whole; curl's -C - on a whole file).
func (s *bodySink) continued(resp *client.Response) bool {
	return resp.Status == 416 && s.dl != nil && s.dl.Offset() > 0
}

// finish closes the file (renaming it once verified) and ends a body printed to stdout
// with a newline, as before.
func (s *bodySink) finish(resp *client.Response, err error) error {
	if s.toFile {
		err = s.dl.Finish(resp, err)
	}
	if s.last.n > 0 && s.last.b != '\n' && *s.cf.writeOut == "" {
		fmt.Fprintln(s.stdout)
	}
	return err
}

// lastByte passes bytes on, remembering the last one.
type lastByte struct {
	w io.Writer
	n int64
	b byte
}

func (l *lastByte) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if n > 0 {
		l.n += int64(n)
		l.b = p[n-1]
	}
	return n, err
}
