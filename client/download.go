package client

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/valyala/fasthttp"
)

// PartSuffix marks a download not yet verified: the body is written to PATH+PartSuffix and
// renamed to PATH only when the transfer proved itself complete (its trailers, or for a
// resumed file its whole digest). A file named PATH is therefore always a verified one;
// a PATH.part is what a failed or interrupted transfer left, for --continue-at to go on with.
const PartSuffix = ".part"

// Download is one answer written to a file: fresh, or continued from what an interrupted
// download left (curl's -C -).
type Download struct {
	path   string
	resume bool
	offset int64  // bytes already there, asked past with Range
	from   string // the file those bytes are in: path+PartSuffix, or path itself
	f      *os.File
	status int
	append bool
	// validator is the strong ETag of the version the part holds (ValidatorSuffix), ""
	// when none is known.
	validator string
	// unlockPart gives back the part's lock (openLocked); nil when none is held.
	unlockPart func()
}

// NewDownload prepares a download to path. With resume, it continues path+PartSuffix if
// there is one, else path itself (a file fetched by another tool); Offset is then the size
// of that file, 0 when there is none.
func NewDownload(path string, resume bool) (*Download, error) {
	d := &Download{path: path, resume: resume}
	if !resume {
		return d, nil
	}
	for _, p := range []string{path + PartSuffix, path} {
		off, err := ResumeOffset(p)
		if err != nil {
			return nil, err
		}
		if _, statErr := os.Stat(p); statErr == nil {
			d.offset, d.from = off, p
			break
		}
	}
	if d.from == path+PartSuffix && d.offset > 0 {
		v, err := readValidator(d.from)
		if err != nil {
			return nil, err
		}
		d.validator = v
	}
	return d, nil
}

// Offset is where the download continues; 0 for a fresh one.
func (d *Download) Offset() int64 { return d.offset }

// Ask sets req's Range to the bytes from Offset on and, when the version the part holds
// is known, If-Range to its ETag: a provider whose file changed then sends the whole new
// version, which replaces the part.
func (d *Download) Ask(req *Request) {
	AskFrom(req, d.offset)
	if d.offset > 0 && d.validator != "" {
		req.Header[fasthttp.HeaderIfRange] = d.validator
	}
}

// Open is the destination of the answer whose head is resp (SendTo's open): a 206 that
// starts at Offset is appended to the part, any other 2xx replaces it, a 416 to a resumed download
// writes nothing (the file may already be whole; Finish checks it). Any other status is
// refused: an answer that is not the file never touches it.
func (d *Download) Open(resp *Response) (io.Writer, error) {
	d.status = resp.Status
	part := d.path + PartSuffix
	switch {
	case resp.Status == 206 && d.resume && d.offset > 0:
		start, _, err := contentRangeStart(resp)
		if err != nil {
			return nil, err
		}
		if start != d.offset {
			return nil, fmt.Errorf("resume %s: the answer starts at byte %d, the file has %d", d.from, start, d.offset)
		}
		if tag := strongTag(resp); d.validator != "" && tag != d.validator {
			// A provider that ignored If-Range: the rest of another version.
			if tag == "" {
				tag = "one it does not name"
			}
			return nil, fmt.Errorf("resume %s: the part is version %s, the answer continues version %s (the provider ignored If-Range)", d.from, d.validator, tag)
		}
		f, err := d.openLocked(d.from, os.O_WRONLY|os.O_APPEND)
		if err != nil {
			return nil, fmt.Errorf("resume %s: %w", d.from, err)
		}
		if fi, err := f.Stat(); err != nil || fi.Size() != d.offset {
			d.closeLocked(f)
			return nil, fmt.Errorf("resume %s: it changed while the gateway answered (%v)", d.from, err)
		}
		if d.from != part {
			// The file is being extended: until it verifies whole it is a part.
			if err := os.Rename(d.from, part); err != nil {
				d.closeLocked(f)
				return nil, fmt.Errorf("resume %s: %w", d.from, err)
			}
			d.from = part
		}
		if d.validator == "" {
			// The part's first bytes are of no known version: a validator file left from a
			// part deleted by hand must not name it.
			if err := saveValidator(part, ""); err != nil {
				d.closeLocked(f)
				return nil, err
			}
		}
		d.f, d.append = f, true
		return f, nil
	case resp.Status == 416 && d.resume && d.offset > 0:
		return io.Discard, nil
	case resp.Status >= 200 && resp.Status < 300:
		// A 200, or a 206 to a Range the caller set itself: the bytes asked for.
		// Emptied once locked, not as it is opened: another download writing it keeps
		// what it wrote.
		f, err := d.openLocked(part, os.O_WRONLY|os.O_CREATE)
		if err == nil {
			err = f.Truncate(0)
			if err != nil {
				d.closeLocked(f)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("--output %s: %w", part, err)
		}
		d.f, d.from = f, part
		if err := saveValidator(part, strongTag(resp)); err != nil {
			d.closeLocked(f)
			d.f = nil
			return nil, err
		}
		return f, nil
	}
	return nil, fmt.Errorf("%s: the gateway answered %d, not the file", d.path, resp.Status)
}

// Finish ends the download after SendTo returned err for resp. A transfer that failed, or
// a resumed file whose whole SM3 does not equal the provider's Repr-Digest or the
// gateway's whole digest (wholeWanted), stays
// PATH.part and Finish returns why; a verified one is renamed to PATH.
func (d *Download) Finish(resp *Response, err error) error {
	defer d.unlock()
	if d.f != nil {
		if cerr := d.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("--output %s: %w", d.f.Name(), cerr)
		}
	}
	if err != nil {
		if d.f != nil || d.from == d.path+PartSuffix {
			return fmt.Errorf("%w (what arrived is in %s; --continue-at - continues it)", err, d.path+PartSuffix)
		}
		return err
	}
	if d.f == nil && d.status != 416 {
		return errors.New("download: Finish before Open")
	}
	if d.needsWholeDigest(resp) {
		if err := verifyWhole(d.from, resp); err != nil {
			if d.from == d.path && os.Rename(d.path, d.path+PartSuffix) == nil {
				d.from = d.path + PartSuffix // a file that does not verify must not look whole
			}
			return fmt.Errorf("%w (the file is left as %s)", err, d.from)
		}
	}
	if d.from != d.path {
		if err := os.Rename(d.from, d.path); err != nil {
			return fmt.Errorf("--output %s: %w", d.path, err)
		}
	}
	return saveValidator(d.path+PartSuffix, "")
}

// errPartBusy is what Open returns when another download holds the part.
var errPartBusy = errors.New("another download is writing it (two downloads to one --output would mix their bytes)")

// openLocked opens name and takes the part's lock (partlock_*.go), held until Finish
// returns: two downloads to one file would write over each other, and the one that
// finished first would name PATH a file the other was still writing.
func (d *Download) openLocked(name string, flag int) (*os.File, error) {
	f, err := os.OpenFile(name, flag, 0o644)
	if err != nil {
		return nil, err
	}
	unlock, err := lockPart(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	d.unlockPart = unlock
	return f, nil
}

// closeLocked closes a part Open will not hand on, and gives its lock back.
func (d *Download) closeLocked(f *os.File) {
	f.Close()
	d.unlock()
}

func (d *Download) unlock() {
	if d.unlockPart != nil {
		d.unlockPart()
		d.unlockPart = nil
	}
}

// needsWholeDigest: a file made of parts, or one already there, is checked whole; a body
// sent whole was checked by its trailers, unless the provider states a whole digest too.
func (d *Download) needsWholeDigest(resp *Response) bool {
	switch {
	case d.append || d.status == 416:
		return true
	case d.offset > 0:
		// Asked for a part and sent the whole: its trailers checked it, or nothing did.
		return resp.Transfer == nil || reprDigest(resp) != "" || resp.Transfer.Whole != ""
	case resp != nil && resp.Transfer != nil && resp.Transfer.Whole != "" && resp.Transfer.Whole != resp.Transfer.Digest:
		// Sent whole, the gateway's whole digest is the body's: one that differs is an
		// answer tampered with, and the file, checked against it, fails.
		return true
	}
	return false
}
