package client

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/wire"
)

// Transfer is what the trailers of a streamed answer (a route in exchange or publish mode)
// state: the receipt of the record written when the transfer ended, and the digest and
// counts of the body sent.
type Transfer struct {
	Receipt string
	Digest  string // hex SM3 of the body, as X-Govgate-Digest states it
	Rows    int64
	Bytes   int64
	// Whole is the hex SM3 of the whole representation the gateway states
	// (X-Govgate-Whole-Digest), "" when it states none: on a range, what a resumed file is
	// checked against when the provider states no Repr-Digest.
	Whole string
}

// ErrTransferIncomplete is a streamed answer that does not prove itself complete: no
// receipt trailer, a digest that does not match the body received, a gateway error
// trailer, or the same trailer twice. Its body must not be used as the dataset.
var ErrTransferIncomplete = errors.New("the transfer is not complete")

// streamedAnswer reports whether the gateway announced the transfer's trailers.
func streamedAnswer(h *fasthttp.ResponseHeader) bool {
	for _, k := range h.PeekTrailerKeys() {
		if bytes.EqualFold(k, []byte(wire.HeaderReceipt)) {
			return true
		}
	}
	return false
}

// checkTransfer checks the trailers of a streamed answer against the body received.
func checkTransfer(h *fasthttp.ResponseHeader, body []byte) (*Transfer, error) {
	sum := crypto.SM3(body)
	return checkTrailers(h, hex.EncodeToString(sum[:]), int64(len(body)))
}

// checkTrailers checks the trailers of a streamed answer against the SM3 (hex) and the
// length of the body received.
func checkTrailers(h *fasthttp.ResponseHeader, sum string, size int64) (*Transfer, error) {
	one := func(name string) (string, error) {
		vs := h.PeekAll(name)
		switch len(vs) {
		case 0:
			return "", fmt.Errorf("%w: no %s trailer", ErrTransferIncomplete, name)
		case 1:
			return string(vs[0]), nil
		}
		return "", fmt.Errorf("%w: %s sent %d times", ErrTransferIncomplete, name, len(vs))
	}
	if e := h.Peek(wire.HeaderTransferError); len(e) > 0 {
		return nil, fmt.Errorf("%w: the gateway cut it (%s)", ErrTransferIncomplete, e)
	}
	t := &Transfer{}
	var err error
	if t.Receipt, err = one(wire.HeaderReceipt); err != nil {
		return nil, err
	}
	if t.Receipt == "" {
		return nil, fmt.Errorf("%w: an empty receipt", ErrTransferIncomplete)
	}
	digest, err := one(wire.HeaderDigest)
	if err != nil {
		return nil, err
	}
	if t.Digest = sum; digest != wire.DigestPrefix+t.Digest {
		return nil, fmt.Errorf("%w: the body received (SM3 %s) is not the one the gateway states it sent (%s)", ErrTransferIncomplete, t.Digest, digest)
	}
	for name, dst := range map[string]*int64{wire.HeaderRows: &t.Rows, wire.HeaderBytes: &t.Bytes} {
		v, err := one(name)
		if err != nil {
			return nil, err
		}
		if *dst, err = strconv.ParseInt(v, 10, 64); err != nil || *dst < 0 {
			return nil, fmt.Errorf("%w: %s is %q", ErrTransferIncomplete, name, v)
		}
	}
	if t.Bytes != size {
		return nil, fmt.Errorf("%w: %d bytes received where the gateway states %d", ErrTransferIncomplete, size, t.Bytes)
	}
	if t.Whole, err = wholeTrailer(h); err != nil {
		return nil, err
	}
	return t, nil
}

// wholeTrailer reads X-Govgate-Whole-Digest: absent, or once as "sm3=" and 64 hex digits.
func wholeTrailer(h *fasthttp.ResponseHeader) (string, error) {
	vs := h.PeekAll(wire.HeaderWholeDigest)
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", fmt.Errorf("%w: %s sent %d times", ErrTransferIncomplete, wire.HeaderWholeDigest, len(vs))
	}
	v, ok := bytes.CutPrefix(vs[0], []byte(wire.DigestPrefix))
	if _, err := hex.DecodeString(string(v)); !ok || err != nil || len(v) != 64 {
		return "", fmt.Errorf("%w: %s is %q", ErrTransferIncomplete, wire.HeaderWholeDigest, vs[0])
	}
	return string(v), nil
}
