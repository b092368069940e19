package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/wire"
)

// CopyBuffer is the size of the one buffer a streamed answer passes through on its way
// from the connection to the writer SendTo is given: what the client holds of a body,
// whatever its size.
const CopyBuffer = 64 << 10

// SendTo sends a prepared request and streams the answer's body into the writer open
// returns for the answer's head (status and header fields; Body is nil), through one
// CopyBuffer, computing the body's SM3 and length as it goes. A streamed answer (one
// that announces the receipt trailer) is then checked as Send checks it: a body cut short,
// a digest or byte count the trailers do not state, a gateway error trailer — all
// ErrTransferIncomplete, after the writer got what arrived. ctx cancelled ends the copy
// between two reads. The Response's Body is nil and Size is the bytes received.
func (c *Client) SendTo(ctx context.Context, p *Prepared, open func(*Response) (io.Writer, error)) (*Response, error) {
	hresp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(hresp)
	hresp.StreamBody = true
	if err := c.host(p.u).DoDeadline(p.req, hresp, c.deadline(ctx)); err != nil {
		if c.answeredInTLS(p.u) {
			return nil, fmt.Errorf("call %s: %w", p.u, ErrTLSServer)
		}
		return nil, fmt.Errorf("call %s: %w", p.u, err)
	}
	resp := headOf(hresp)
	streamed := streamedAnswer(&hresp.Header)
	w, err := open(resp)
	if err != nil {
		closeStream(hresp, err)
		return resp, err
	}
	h := crypto.NewSM3()
	n, err := copyBody(ctx, io.MultiWriter(w, h), hresp)
	resp.Size = n
	if err != nil {
		closeStream(hresp, err)
		if streamed && !errors.Is(err, context.Canceled) && !errors.Is(err, errSink) {
			err = fmt.Errorf("%w: the body broke off after %d bytes: %v", ErrTransferIncomplete, n, err)
		}
		return resp, fmt.Errorf("call %s: %w", p.u, err)
	}
	if err := hresp.CloseBodyStream(); err != nil {
		return resp, fmt.Errorf("call %s: %w", p.u, err)
	}
	if streamed {
		t, err := checkTrailers(&hresp.Header, hex.EncodeToString(h.Sum(nil)), n)
		if err != nil {
			return resp, fmt.Errorf("call %s: %w", p.u, err)
		}
		resp.Transfer, resp.Receipt = t, t.Receipt
	}
	return resp, nil
}

// errSink marks a write error of the destination, so that it is not taken for a cut.
var errSink = errors.New("writing the body")

// copyBody copies the body (streamed, or buffered when fasthttp read it whole) to w.
func copyBody(ctx context.Context, w io.Writer, hresp *fasthttp.Response) (int64, error) {
	r := hresp.BodyStream()
	if r == nil {
		n, err := w.Write(hresp.Body())
		if err != nil {
			return int64(n), fmt.Errorf("%w: %w", errSink, err)
		}
		return int64(n), nil
	}
	buf := make([]byte, CopyBuffer)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return total, fmt.Errorf("%w: %w", errSink, err)
			}
			total += int64(n)
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// closeStream releases the connection of a body not read to its end.
func closeStream(hresp *fasthttp.Response, err error) {
	if rc, ok := hresp.BodyStream().(fasthttp.ReadCloserWithError); ok {
		_ = rc.CloseWithError(err)
		return
	}
	_ = hresp.CloseBodyStream()
}

// deadline is the earlier of the client's timeout and ctx's deadline.
func (c *Client) deadline(ctx context.Context) time.Time {
	deadline := time.Now().Add(c.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return deadline
}

// headOf is the answer without its body.
func headOf(hresp *fasthttp.Response) *Response {
	resp := &Response{
		Status:     hresp.StatusCode(),
		Header:     map[string][]string{},
		Receipt:    string(hresp.Header.Peek(wire.HeaderReceipt)),
		RequestID:  string(hresp.Header.Peek(wire.HeaderRequestID)),
		RecordKind: string(hresp.Header.Peek(wire.HeaderRecordKind)),
		Head:       append([]byte(nil), hresp.Header.Header()...),
	}
	hresp.Header.VisitAll(func(k, v []byte) {
		resp.Header[string(k)] = append(resp.Header[string(k)], string(v))
	})
	return resp
}
