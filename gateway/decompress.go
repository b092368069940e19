package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	brotli "github.com/molecule-man/go-brrr"
	"github.com/valyala/fasthttp"
)

// The release stage decodes a compressed JSON response to cut it down to the released
// fields. A provider chooses the compression, so decoding is streamed into one buffer
// that may not grow past limits.max_decompressed_bytes — decoding stops at the first byte
// over, not after the whole bomb — and every byte the buffer and the decoder hold is taken
// from the gateway-wide release budget (releaseMemory) before it is allocated. A response
// without a content coding is the body itself and pays for none of this.

// contentCoding is a Content-Encoding the release stage decodes.
type contentCoding uint8

const (
	codingNone contentCoding = iota
	codingGzip
	codingDeflate // the zlib format, as RFC 9110 8.4.1.2 defines "deflate"
	codingBrotli
	codingZstd
)

// Decoder state charged to the budget beyond the decoded bytes.
const (
	flateState = 64 << 10 // window and tables of a gzip or zlib decoder
	// zstdWindow bounds the window a zstd stream may ask for: what zstd uses up to level
	// 19 (--long and larger windows are refused as too large).
	zstdWindow = 8 << 20
	zstdState  = zstdWindow + 512<<10
	// brotliMaxWindow is the largest window RFC 7932 allows; a stream's own is read from
	// its first byte.
	brotliMaxWindow = 1 << 24
	brotliExtra     = 64 << 10
	maxDecoderState = brotliMaxWindow + brotliExtra
)

// maxHold is the most one exchange holds of the budget: the largest decoded body, the
// filtered copy of it, and the largest decoder state.
func maxHold(limit int64) int64 { return 2*limit + maxDecoderState }

// parseContentCoding reads a response's Content-Encoding: one coding, in any case. No
// coding, or identity, is none; codings stacked on one another, or any other, are refused
// rather than handed to a decoder that would guess.
func parseContentCoding(v []byte) (contentCoding, bool) {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0 || bytes.EqualFold(v, []byte("identity")):
		return codingNone, true
	case bytes.EqualFold(v, []byte("gzip")):
		return codingGzip, true
	case bytes.EqualFold(v, []byte("deflate")):
		return codingDeflate, true
	case bytes.EqualFold(v, []byte("br")):
		return codingBrotli, true
	case bytes.EqualFold(v, []byte("zstd")):
		return codingZstd, true
	}
	return codingNone, false
}

func errTooLarge(limit int64) error {
	return ReleaseRefusal(false, Reason{Code: "RESPONSE_TOO_LARGE", Message: fmt.Sprintf("the provider's response decompresses to more than %d bytes (limits.max_decompressed_bytes)", limit)})
}

func errEncoding() error {
	return ReleaseRefusal(false, Reason{Code: "RESPONSE_ENCODING", Message: "the provider's Content-Encoding is not one the gateway decodes: gzip, deflate, br or zstd, one coding, not stacked"})
}

func errCorrupt() error {
	return ReleaseRefusal(false, Reason{Code: "RESPONSE_CORRUPT", Message: "the provider's compressed response could not be decoded"})
}

// UncompressedBody is the response body for the release stage to filter. A decoded body
// holds its share of the release budget until fasthttp resets the request, after the
// response has been written. A failure is the exchange's refusal, an *Error: the budget's
// own 503, or a provider's response that cannot be released (502 with its reason).
func UncompressedBody(ctx *fasthttp.RequestCtx, x *Exchange) ([]byte, error) {
	body, err := uncompressedBody(ctx, x)
	if err != nil {
		return nil, decodeRefusal(err)
	}
	return body, nil
}

func uncompressedBody(ctx *fasthttp.RequestCtx, x *Exchange) ([]byte, error) {
	resp := &ctx.Response
	ce := resp.Header.ContentEncoding()
	if len(ce) == 0 {
		return resp.Body(), nil
	}
	if x.entry == nil || x.entry.release == nil {
		return nil, errors.New("release: no release memory budget for this exchange")
	}
	body, hold, err := x.entry.release.decode(ctx, ce, resp.Body())
	if hold != nil {
		ctx.SetUserValue(releaseHoldKey{}, hold)
	}
	return body, err
}

// releaseHoldKey names the exchange's releaseHold among the request's user values.
type releaseHoldKey struct{}

// decodeRefusal turns a decoding failure into the exchange's refusal: the budget's own
// 503 as it is, a provider's response that cannot be released as 502 with its reason.
func decodeRefusal(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Errorf(fasthttp.StatusBadGateway, "release_refused", "the response could not be released").WithCause(err)
}

// decode returns src itself when it has no content coding; else src decoded within the
// per-response limit and the budget, with the hold to close once the body is released.
func (m *releaseMemory) decode(ctx context.Context, contentEncoding, src []byte) ([]byte, *releaseHold, error) {
	c, ok := parseContentCoding(contentEncoding)
	if !ok {
		return nil, nil, errEncoding()
	}
	if c == codingNone {
		return src, nil, nil
	}
	h := m.hold(ctx)
	body, err := m.decodeWith(h, c, src)
	if err != nil {
		h.Close()
		return nil, nil, err
	}
	return body, h, nil
}

func (m *releaseMemory) decodeWith(h *releaseHold, c contentCoding, src []byte) ([]byte, error) {
	state := stateBytes(c, src)
	if err := h.grow(state); err != nil {
		return nil, err
	}
	in := bytes.NewReader(src)
	r, done, err := m.reader(c, in)
	if err != nil {
		return nil, errCorrupt()
	}
	body, err := readBounded(r, h, sizeHint(c, src), m.limit)
	done()
	h.shrink(state)
	if err == nil && in.Len() > 0 {
		err = errCorrupt() // bytes after the end of the stream: not what was compressed
	}
	if err != nil {
		return nil, err
	}
	// FilterJSON copies what it keeps of the body: at most as much again.
	if err := h.grow(int64(len(body))); err != nil {
		return nil, err
	}
	return body, nil
}

// stateBytes is what a decoder for c holds besides the decoded body.
func stateBytes(c contentCoding, src []byte) int64 {
	switch c {
	case codingGzip, codingDeflate:
		return flateState
	case codingBrotli:
		return brotliWindow(src) + brotliExtra
	case codingZstd:
		return zstdState
	}
	return 0
}

// brotliWindow reads the window a brotli stream declares in its first bits (RFC 7932
// 9.1); the decoder allocates a ring buffer of that size. Anything unreadable is charged
// the largest window and left for the decoder to refuse.
func brotliWindow(src []byte) int64 {
	if len(src) == 0 {
		return brotliMaxWindow
	}
	b := src[0]
	if b&1 == 0 {
		return 1 << 16
	}
	if n := (b >> 1) & 7; n != 0 {
		return 1 << (17 + n)
	}
	switch n := (b >> 4) & 7; n {
	case 0:
		return 1 << 17
	case 1:
		return brotliMaxWindow // large-window brotli, not RFC 7932: the decoder refuses it
	default:
		return 1 << (8 + n)
	}
}

// sizeHint is the first buffer size: a gzip stream states its size (modulo 2^32) in its
// last four bytes, so an honest one is decoded into one buffer; a lying one only grows
// as any other, and never past the limit.
func sizeHint(c contentCoding, src []byte) int64 {
	if c == codingGzip && len(src) >= 18 {
		return int64(binary.LittleEndian.Uint32(src[len(src)-4:])) + 1
	}
	return 4 * int64(len(src))
}

// reader returns a decoder for c over in, and the function that puts it back.
func (m *releaseMemory) reader(c contentCoding, in *bytes.Reader) (io.Reader, func(), error) {
	switch c {
	case codingGzip:
		zr, _ := m.gzip.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(in)
		} else {
			err = zr.Reset(in)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("gzip header: %w", err)
		}
		return zr, func() { m.gzip.Put(zr) }, nil
	case codingDeflate:
		zr, _ := m.zlib.Get().(io.ReadCloser)
		var err error
		if zr == nil {
			zr, err = zlib.NewReader(in)
		} else {
			err = zr.(zlib.Resetter).Reset(in, nil)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("zlib header: %w", err)
		}
		return zr, func() { m.zlib.Put(zr) }, nil
	case codingBrotli:
		br, _ := m.brotli.Get().(*brotli.Reader)
		if br == nil {
			br = brotli.NewReader(in)
		} else {
			br.Reset(in)
		}
		return br, func() { br.Close(); m.brotli.Put(br) }, nil
	case codingZstd:
		zr, err := zstd.NewReader(in, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(zstdWindow))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd decoder: %w", err)
		}
		return zr, zr.Close, nil
	}
	return nil, nil, errors.New("no decoder")
}

// readBounded decodes r into buffers of at most limit bytes in all, taking the budget for
// each before it is allocated, and stops at the first byte over the limit. It fills a
// chain of buffers, each twice the last, rather than growing one by copying: a bomb is
// refused having allocated the limit once, not twice, and only a body that fits is joined
// into one slice (in one allocation when the first buffer held it all, as the gzip size
// hint usually makes it).
func readBounded(r io.Reader, h *releaseHold, hint, limit int64) ([]byte, error) {
	var chunks [][]byte
	total, next := int64(0), min(max(hint, 4<<10), limit+1)
	for {
		if err := h.grow(next); err != nil {
			return nil, err
		}
		buf := make([]byte, next)
		n, err := fill(r, buf)
		total += int64(n)
		chunks = append(chunks, buf[:n])
		switch {
		case total > limit:
			return nil, errTooLarge(limit)
		case err == io.EOF:
			return join(chunks, total, h)
		case errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded):
			return nil, errTooLarge(limit)
		case err != nil:
			return nil, errCorrupt()
		}
		next = min(2*next, limit+1-total)
	}
}

// fill reads until buf is full or r fails. Unlike io.ReadFull it keeps io.EOF apart from
// a decoder's own io.ErrUnexpectedEOF, which means a truncated stream.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// join makes one slice of the chunks, taking the budget for it and giving back the
// chunks'.
func join(chunks [][]byte, total int64, h *releaseHold) ([]byte, error) {
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	if err := h.grow(total); err != nil {
		return nil, err
	}
	out := make([]byte, 0, total)
	held := int64(0)
	for _, c := range chunks {
		out = append(out, c...)
		held += int64(cap(c))
	}
	h.shrink(held)
	return out, nil
}
