package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/valyala/fasthttp"
)

// ValidatorSuffix names the file beside PATH.part that holds the strong ETag of the answer
// whose bytes the part holds. A continued download asks its Range under If-Range with it,
// so that a provider whose file changed since answers with the whole new version (which
// replaces the part) instead of the rest of the new one appended to the start of the old:
// a part mixing two versions never verifies, and every later --continue-at would refuse
// it again until someone deleted it by hand.
const ValidatorSuffix = PartSuffix + validatorExt

// validatorExt is what the validator file adds to the part's name.
const validatorExt = ".etag"

// maxValidator bounds what is read back from the validator file: an ETag is short; a file
// that is not one (a careless copy over it) is ignored, not sent.
const maxValidator = 256

// strongTag is the answer's ETag when it is a strong one (RFC 9110 13.1.5: If-Range takes
// only a strong validator), else "".
func strongTag(resp *Response) string {
	return strongOrNothing(firstHeader(resp, fasthttp.HeaderETag))
}

// strongOrNothing is tag when it is a well-formed strong entity tag fit to send in a
// header (quoted, no weak prefix, no control characters), else "".
func strongOrNothing(tag string) string {
	if len(tag) < 2 || len(tag) > maxValidator || tag[0] != '"' || tag[len(tag)-1] != '"' {
		return ""
	}
	for i := 1; i < len(tag)-1; i++ {
		if c := tag[i]; c == '"' || c < 0x21 || c == 0x7f {
			return ""
		}
	}
	return tag
}

// readValidator is the strong ETag saved beside part, "" when there is none fit to send.
func readValidator(part string) (string, error) {
	b, err := os.ReadFile(part + validatorExt)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("resume %s: %w", part, err)
	}
	return strongOrNothing(strings.TrimSpace(string(b))), nil
}

// saveValidator keeps tag beside part ("" removes what was there: the part's bytes are
// then of a version nothing names, and a continuation is checked by its whole digest only).
func saveValidator(part, tag string) error {
	name := part + validatorExt
	if tag == "" {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--output %s: %w", name, err)
		}
		return nil
	}
	if err := replaceFile(name, []byte(tag+"\n")); err != nil {
		return fmt.Errorf("--output %s: %w", name, err)
	}
	return nil
}

// replaceFile puts data at name by rename from a file beside it: a symbolic link at name
// is replaced, never written through (os.WriteFile would truncate the file it points to),
// and a crash leaves the old validator or the new one, never a torn one.
func replaceFile(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
