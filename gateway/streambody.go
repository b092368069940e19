package gateway

import (
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/wire"
)

// streamBody is the body of a streamed response: fasthttp's server reads it and writes
// what it returns as chunks to the consumer. Each read takes the provider's bytes into a
// fixed window, cuts the complete rows in it, digests and counts both sides, and hands
// the released bytes on. At the provider's end it has the exchange recorded and sets the
// receipt as a trailer; a transfer that cannot go on is cut (cut).
//
// It owns the exchange from the handler's return until Close: the exchange is recorded,
// and given back to its pool, when the transfer ends.
type streamBody struct {
	g      *Gateway
	rt     *runtime
	ctx    *fasthttp.RequestCtx
	x      *Exchange
	up     *fasthttp.Response
	src    io.Reader
	cutter RowCutter
	limit  int64
	// span is the length a 206's Content-Range announces (Exchange.span), 0 when none:
	// the body must be exactly that long.
	span int64

	win  []byte // the provider's bytes not yet cut: win[:pend]
	pend int
	buf  []byte // the released bytes of the last cut; out is what is left of them
	out  []byte

	sentHash, recvHash hash.Hash
	whole              *wholeMeter // the whole representation's digest the gateway states; nil: none
	sent, received     int64
	rows               int64
	eof                bool // the provider's body has ended

	done   bool  // recorded: completed, cut or aborted
	endErr error // what Read returns once done
	closed bool
}

func newStreamBody(g *Gateway, rt *runtime, ctx *fasthttp.RequestCtx, x *Exchange, up *fasthttp.Response, cutter RowCutter) *streamBody {
	limit, _ := x.entry.transferLimits()
	s := &streamBody{
		g: g, rt: rt, ctx: ctx, x: x, up: up, src: up.BodyStream(), cutter: cutter, limit: limit,
		win: make([]byte, StreamWindow), sentHash: crypto.NewSM3(), recvHash: crypto.NewSM3(),
	}
	if up.StatusCode() == fasthttp.StatusPartialContent {
		s.span = max(x.span, 0) // a 206 without one readable span was refused (checkPartial)
	}
	if cutter != nil {
		s.buf = make([]byte, 0, StreamWindow+StreamWindow/4)
	}
	return s
}

// prime cuts the first window before the head leaves: an error here refuses the exchange.
func (s *streamBody) prime() *Error {
	if s.src == nil {
		s.eof = true
		return nil
	}
	err := s.produceGuarded()
	if err == nil || endOfBody(err) {
		return nil
	}
	return asError(err)
}

// produce fills s.out with released bytes, reading the provider as needed. It returns
// io.EOF once the provider's body has ended and everything cut from it is out.
func (s *streamBody) produce() error {
	for len(s.out) == 0 {
		if s.eof {
			return io.EOF
		}
		room := s.win[s.pend:]
		if len(room) == 0 {
			return errRowTooLarge()
		}
		// left+1 would overflow for a limit or span of 2^63-1 (a provider's Content-Range).
		if left := s.limit - s.received; int64(len(room)) > left {
			room = room[:left+1] // one byte past the limit is enough to know it is passed
		}
		if left := s.span - s.received; s.span > 0 && int64(len(room)) > left {
			room = room[:left+1] // and one past the span, never sent
		}
		n, err := s.fill(room)
		s.recvHash.Write(room[:n])
		if s.whole != nil && s.whole.body {
			s.whole.h.Write(room[:n])
		}
		s.received += int64(n)
		s.pend += n
		if s.received > s.limit {
			return errTransferTooLarge(s.limit)
		}
		if s.span > 0 && (s.received > s.span || (errors.Is(err, io.EOF) && s.received != s.span)) {
			return errRangeSize(s.span, s.received)
		}
		switch {
		case errors.Is(err, io.EOF):
			s.eof = true
		case err != nil:
			ue, _ := upstreamError(err, s.x.entry)
			return ue
		}
		if err := s.cut(); err != nil {
			return err
		}
	}
	return nil
}

// cut passes the window through the cutter (or whole, for an opaque body).
func (s *streamBody) cut() error {
	if s.cutter == nil {
		s.out = s.win[:s.pend] // handed on before the window is filled again
		s.pend = 0
		return nil
	}
	out, used, rows, err := s.cutter.Cut(s.buf[:0], s.win[:s.pend], s.eof)
	s.buf, s.out = out, out
	copy(s.win, s.win[used:s.pend])
	s.pend -= used
	if err != nil {
		// The rows before the one refused go nowhere, so they are not counted as released
		// either: the transfer is cut here.
		s.out = nil
		return releaseCutError(err)
	}
	s.rows += int64(rows)
	if s.eof && s.pend > 0 {
		return ReleaseRefusal(false, Reason{Code: "ROW_MALFORMED", Message: "the provider's body ends inside a row"})
	}
	return nil
}

func releaseCutError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Errorf(fasthttp.StatusBadGateway, "release_refused", "the response could not be released").WithCause(err)
}

func errRowTooLarge() *Error {
	return ReleaseRefusal(false, Reason{Code: "ROW_TOO_LARGE", Message: "a row of the provider's body is longer than the gateway's window of " + strconv.Itoa(StreamWindow) + " bytes, so it cannot be cut row by row"})
}

func errTransferTooLarge(limit int64) *Error {
	return Errorf(fasthttp.StatusBadGateway, "upstream_response_too_large", "the provider's body exceeds this route's max_response_bytes (%d)", limit)
}

// Read implements io.Reader for fasthttp's chunked writer.
func (s *streamBody) Read(p []byte) (int, error) {
	if s.endErr != nil {
		return 0, s.endErr
	}
	if len(s.out) == 0 {
		err := s.produceGuarded()
		if endOfBody(err) {
			return 0, s.complete()
		}
		if err != nil {
			return 0, s.cutWith(asError(err))
		}
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	s.sentHash.Write(p[:n])
	s.sent += int64(n)
	// The write timeout bounds each chunk, not the whole transfer.
	if wt := s.rt.cfg.Limits.WriteTimeout; wt > 0 {
		s.ctx.SetWriteDeadline(time.Now().Add(wt))
	}
	return n, nil
}

// endOfBody reports whether err is produce's (or complete's) own io.EOF: the body ended
// and all of it went out. Only the sentinel itself, never an error wrapping it: a refusal
// whose cause is io.EOF (a shared store's connection closed under a count) must cut the
// transfer, not be taken for its end and recorded as completed.
func endOfBody(err error) bool { return err == io.EOF }

func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Errorf(fasthttp.StatusBadGateway, "transfer_failed", "the transfer failed").WithCause(err)
}

// complete ends a transfer whose provider body ended: it is recorded, and the receipt and
// digest go out as trailers after the last chunk. A provider that sent a label in its
// trailers — after its rows were released under the label of its head — is cut instead.
func (s *streamBody) complete() error {
	if labelInTrailer(&s.up.Header) {
		return s.cutWith(ReleaseRefusal(true, Reason{Code: "LABEL_IN_TRAILER", Message: "the provider sent X-Classification in a trailer, after rows were released under the label of its head"}))
	}
	if s.whole != nil {
		whole, werr := s.whole.end(s.received, s.recvHash.Sum(nil))
		if werr != nil {
			return s.cutWith(werr)
		}
		s.x.Transfer.WholeDigest = whole
	}
	receipt, err := s.record(TransferCompleted)
	if err != nil {
		return s.cutWith(Errorf(fasthttp.StatusServiceUnavailable, "audit_unavailable", "the audit record could not be written; the transfer was refused").WithCause(err))
	}
	h := &s.ctx.Response.Header
	if len(receipt) > 0 {
		h.SetBytesV(wire.HeaderReceipt, receipt)
	}
	h.Set(wire.HeaderDigest, wire.DigestPrefix+s.x.Transfer.SentDigest)
	if w := s.x.Transfer.WholeDigest; w != "" {
		h.Set(wire.HeaderWholeDigest, wire.DigestPrefix+w)
	}
	h.Set(wire.HeaderRows, strconv.FormatInt(s.rows, 10))
	h.Set(wire.HeaderBytes, strconv.FormatInt(s.sent, 10))
	s.endErr = io.EOF
	return io.EOF
}

// labelInTrailer reports whether the provider's trailer section named X-Classification,
// in any case: the upstream client keeps names as they came, and Peek matches only the
// canonical spelling. Trailers lists the names received (the announced ones were dropped
// at the head, unannounceTrailers).
func labelInTrailer(h *fasthttp.ResponseHeader) bool {
	for k := range h.Trailers() {
		if equalFold(k, HeaderClassification) {
			return true
		}
	}
	return false
}

// cutWith ends the transfer visibly incomplete: it is recorded as cut, and the consumer
// gets the last-chunk marker and X-Govgate-Error but never the empty line that would end
// the trailer section, then the connection closes. An HTTP/1.1 reader sees a message that
// never ended, and one that reads trailers sees why. No receipt is sent.
//
// fasthttp flushes the head (ImmediateHeaderFlush) and every chunk as it writes it, so its
// buffer is empty whenever it calls Read: the bytes written here directly to the
// connection follow the last chunk it wrote.
func (s *streamBody) cutWith(e *Error) error {
	if s.endErr != nil {
		return s.endErr
	}
	s.x.Err = e
	s.g.log.Warn("transfer cut", "request_id", string(s.x.ID), "code", e.Code, "sent", s.sent, "received", s.received, "error", e.cause)
	if !s.done {
		s.record(TransferCut)
	} // else: recorded as completed, and the record could not be made durable
	s.ctx.Conn().Write([]byte("0\r\n" + wire.HeaderTransferError + ": " + e.Code + "\r\n"))
	s.endErr = e
	return e
}

// record writes the exchange's record once, with what the transfer carried.
func (s *streamBody) record(outcome string) ([]byte, error) {
	if s.done {
		return nil, errors.New("the transfer is already recorded")
	}
	s.done = true
	t := s.x.Transfer
	t.Outcome, t.Sent, t.Received, t.Rows, t.PrefixRead = outcome, s.sent, s.received, s.rows, s.x.prefixRead
	t.SentDigest, t.ReceivedDigest = hex.EncodeToString(s.sentHash.Sum(nil)), hex.EncodeToString(s.recvHash.Sum(nil))
	var receipt []byte
	var err error
	if s.g.stages.Audit != nil {
		t0 := time.Now()
		receipt, err = s.g.audit(s.ctx, s.x)
		s.g.stageDone(StageAudit, t0)
		if err != nil {
			s.g.log.Error("audit record of a transfer not written", "request_id", string(s.x.ID), "error", err)
		}
	}
	s.x.entry.metrics.inc(s.ctx.Response.StatusCode(), decisionIndex(s.x))
	return receipt, err
}

// CloseWithError is called by fasthttp when it stops reading the body, err saying why
// (the consumer's connection failed); Close when it is done with it.
func (s *streamBody) CloseWithError(err error) error {
	if s.closed {
		return nil
	}
	s.closed = true
	if !s.done {
		// The consumer went away, or the server gave up writing, before the end.
		if s.x.Err == nil {
			s.x.Err = Errorf(fasthttp.StatusBadGateway, "transfer_aborted", "the transfer ended before the provider's body did").WithCause(err)
		}
		s.record(TransferAborted)
		s.endErr = s.x.Err
	}
	s.releaseUpstream(s.endErr)
	s.g.exchanges.put(s.x)
	s.x = nil
	return nil
}

func (s *streamBody) Close() error { return s.CloseWithError(nil) }

func (s *streamBody) releaseUpstream(cause error) {
	if s.up != nil {
		if endOfBody(cause) {
			cause = nil
		}
		closeUpstream(s.up, cause)
		s.up = nil
	}
}

// WriteTo hands fasthttp's chunked writer each cut window as one chunk (fasthttp calls it
// when SupportsBodyWriteTo says so), rather than the 4 KiB reads of its copy buffer: a
// chunk, and a write to the connection, per window. Each chunk is flushed as it is written
// (fasthttp's chunkedBodyWriter), which cutWith relies on. Bytes count as sent once their
// chunk was written.
func (s *streamBody) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if s.endErr != nil {
			if endOfBody(s.endErr) {
				return total, nil
			}
			return total, s.endErr
		}
		if len(s.out) == 0 {
			err := s.produceGuarded()
			if endOfBody(err) {
				if err := s.complete(); !endOfBody(err) {
					return total, err
				}
				return total, nil
			}
			if err != nil {
				return total, s.cutWith(asError(err))
			}
		}
		// The write timeout bounds each chunk's write, set once the chunk is cut: the time
		// spent waiting for the provider is transfer_timeout's, not the consumer's.
		if wt := s.rt.cfg.Limits.WriteTimeout; wt > 0 {
			s.ctx.SetWriteDeadline(time.Now().Add(wt))
		}
		n, err := w.Write(s.out)
		s.sentHash.Write(s.out[:n])
		s.sent += int64(n)
		total += int64(n)
		s.out = s.out[n:]
		if err != nil {
			return total, err // the consumer's connection failed: CloseWithError records it
		}
	}
}

// SupportsBodyWriteTo tells fasthttp to use WriteTo.
func (s *streamBody) SupportsBodyWriteTo() bool { return true }

// fill reads into room until half of it is full, the body ends or a read fails: a
// provider's body arrives in its own chunks (4 KiB from fasthttp), and cutting, digesting
// and writing each one as a chunk of its own spends a write to the consumer per 4 KiB.
// A slow provider's rows wait for no more than the next read that brings half a window.
func (s *streamBody) fill(room []byte) (int, error) {
	n := 0
	for n < len(room)/2 || n == 0 {
		k, err := s.src.Read(room[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
