package client

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/wire"
)

// ErrResumeUnverified is a resumed download whose whole file cannot be checked: the answer
// stated no SM3 of the whole representation, neither the provider (Repr-Digest) nor the
// gateway (X-Govgate-Whole-Digest).
var ErrResumeUnverified = errors.New("the resumed file cannot be verified: neither the provider (sm3 Repr-Digest) nor the gateway (" + wire.HeaderWholeDigest + ") states the SM3 of the whole")

// ResumeOffset is where a download to path continues (curl's -C -): the size of what is
// already there, 0 when there is nothing.
func ResumeOffset(path string) (int64, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("resume %s: %w", path, err)
	}
	return fi.Size(), nil
}

// RangeFrom is the Range field asking for the bytes from offset on.
func RangeFrom(offset int64) string { return "bytes=" + strconv.FormatInt(offset, 10) + "-" }

// AskFrom sets req's Range to the bytes from offset on; at 0 it asks for the whole.
func AskFrom(req *Request, offset int64) {
	if offset <= 0 {
		return
	}
	if req.Header == nil {
		req.Header = map[string]string{}
	}
	req.Header[fasthttp.HeaderRange] = RangeFrom(offset)
}

// contentRangeStart reads "bytes START-END/TOTAL" of a 206.
func contentRangeStart(resp *Response) (start, total int64, err error) {
	v := firstHeader(resp, fasthttp.HeaderContentRange)
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, fmt.Errorf("resume: a 206 without a byte Content-Range (%q); the route must release Content-Range", v)
	}
	span, size, _ := strings.Cut(rest, "/")
	s, _, _ := strings.Cut(span, "-")
	if start, err = strconv.ParseInt(s, 10, 64); err != nil || start < 0 {
		return 0, 0, fmt.Errorf("resume: Content-Range %q", v)
	}
	total, _ = strconv.ParseInt(size, 10, 64)
	return start, total, nil
}

func firstHeader(resp *Response, name string) string {
	for k, vs := range resp.Header {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// reprDigest is the sm3 member of Repr-Digest, base64 as RFC 9530 writes it.
func reprDigest(resp *Response) string {
	for _, m := range strings.Split(firstHeader(resp, wire.HeaderReprDigest), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(m), "=")
		if ok && strings.EqualFold(k, "sm3") && len(v) > 2 && v[0] == ':' && v[len(v)-1] == ':' {
			return v[1 : len(v)-1]
		}
	}
	return ""
}

// wholeWanted is the SM3 of the whole representation the answer states: the provider's
// Repr-Digest and the gateway's whole digest (either may be absent). When both are stated
// they must agree: the gateway cuts a body whose Repr-Digest it measured wrong, so a
// disagreement here is an answer that was tampered with.
func wholeWanted(resp *Response) (want []byte, from string, err error) {
	var provider, gateway []byte
	if v := reprDigest(resp); v != "" {
		if provider, err = base64.StdEncoding.DecodeString(v); err != nil || len(provider) != 32 {
			return nil, "", fmt.Errorf("%w: the Repr-Digest %q is not an SM3 digest", ErrTransferIncomplete, v)
		}
	}
	if resp.Transfer != nil && resp.Transfer.Whole != "" {
		gateway, _ = hex.DecodeString(resp.Transfer.Whole) // checked by checkTrailers
	}
	switch {
	case provider != nil && gateway != nil && !bytes.Equal(provider, gateway):
		return nil, "", fmt.Errorf("%w: the provider's Repr-Digest and the gateway's whole digest disagree", ErrTransferIncomplete)
	case provider != nil:
		return provider, "the provider", nil
	case gateway != nil:
		return gateway, "the gateway", nil
	}
	return nil, "", ErrResumeUnverified
}

// verifyWhole checks the file at path against the whole digest the answer states.
func verifyWhole(path string, resp *Response) error {
	want, from, err := wholeWanted(resp)
	if err != nil {
		return fmt.Errorf("resume %s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("resume %s: %w", path, err)
	}
	defer f.Close()
	h := crypto.NewSM3()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("resume %s: %w", path, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return fmt.Errorf("resume %s: %w: the file's SM3 is %x, %s states %x", path, ErrTransferIncomplete, got, from, want)
	}
	return nil
}
