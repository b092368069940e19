package gateway

import (
	"errors"
	"io"
	"strings"

	"github.com/valyala/fasthttp"
)

// Only failures the provider caused count toward ejecting it: a consumer must not be able
// to take a provider away from every other department by sending what cannot be forwarded.

// checkForwardable refuses, as the client's 400, a request fasthttp would fail to write or
// would write malformed — before a connection is taken, so nothing is counted against the
// provider and no connection is closed for it.
//
//   - The Host fasthttp sends is the parsed target's host unless UseHostHeader is set and
//     the Host header is not empty (fasthttp Request.Write). When it is empty, fasthttp
//     either fails ("missing required host header") — an HTTP/1.0 request without Host —
//     or writes an HTTP/1.1 request without one — an absolute-form target with no host.
//   - Userinfo in an absolute-form target (http://user:pass@host/) or in Host (user@host)
//     is turned by fasthttp into an Authorization header the client never sent as a header:
//     the gateway forwards only fields it decided on.
//
// It also writes HTTP/1.1 on the request line whatever version the client wrote (fasthttp
// forwards "HTTP/2.0" or "HTTP/0.9" verbatim): the gateway speaks HTTP/1.1 to providers.
// The server has read the client's version for its own answer before the handler ran.
func checkForwardable(req *fasthttp.Request) *Error {
	if !req.Header.IsHTTP11() {
		req.Header.SetProtocol("HTTP/1.1")
	}
	uri := req.URI()
	host := uri.Host()
	if req.UseHostHeader && len(req.Header.Host()) > 0 {
		host = req.Header.Host()
	}
	if len(host) == 0 {
		return Errorf(fasthttp.StatusBadRequest, "missing_host", "the request names no host (HTTP/1.0 without Host, or an absolute URI without one)")
	}
	if len(uri.Username()) > 0 || len(uri.Password()) > 0 {
		return Errorf(fasthttp.StatusBadRequest, "userinfo_in_target", "the request's host carries user information; send credentials, if any, as headers")
	}
	return nil
}

// upstreamError turns a failed exchange with a provider into the consumer's error, and
// says whether the provider caused it:
//
//   - counted: the connection could not be opened (refused, unreachable, connect timeout);
//     the provider did not answer in time; it closed or reset the connection after the
//     request was written (before or during its response); its response was malformed
//     (status line, headers, chunking, too many interim responses);
//   - not counted: the pool has no free connection (the gateway's own limit, reached under
//     load); the response was larger than the gateway buffers (the provider answered);
//     pooled connections found stale and nothing else to try (nothing was sent); anything
//     this function does not recognise — a consumer must never be able to eject a provider
//     through a failure nobody has classified.
func upstreamError(err error, e *routeEntry) (*Error, bool) {
	var dial *upstreamDialError
	switch {
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return Errorf(fasthttp.StatusServiceUnavailable, "upstream_busy", "pool %s has no free connection", e.Pool).WithCause(err), false
	case errors.As(err, &dial):
		return Errorf(fasthttp.StatusBadGateway, "upstream_unreachable", "the provider could not be reached").WithCause(err), true
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout):
		return Errorf(fasthttp.StatusGatewayTimeout, "upstream_timeout", "the provider did not answer within %s", e.Timeout).WithCause(err), true
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return Errorf(fasthttp.StatusBadGateway, "upstream_response_too_large", "the provider's response exceeds %d bytes", e.pool.cfg.MaxResponseBytes).WithCause(err), false
	case errors.Is(err, errStaleConn):
		return Errorf(fasthttp.StatusBadGateway, "upstream_unreachable", "the provider could not be reached").WithCause(err), false
	case providerClosed(err):
		return Errorf(fasthttp.StatusBadGateway, "upstream_closed", "the provider closed the connection before its response was complete").WithCause(err), true
	case malformedResponse(err):
		return Errorf(fasthttp.StatusBadGateway, "upstream_bad_response", "the provider's response is not valid HTTP").WithCause(err), true
	default:
		return Errorf(fasthttp.StatusBadGateway, "upstream_error", "the exchange with the provider failed").WithCause(err), false
	}
}

// providerClosed: the provider closed or reset the connection, or a read or write on it
// failed, after the request went out.
func providerClosed(err error) bool {
	var io_ *upstreamIOError
	return errors.Is(err, fasthttp.ErrConnectionClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &io_)
}

// malformedResponse recognises fasthttp's errors for a response it could not parse: its
// exported sentinels (wrapped with %w by its header reader), its chunk and buffer types, and
// — for the few it does not export (empty or too large chunk size, too many 1xx) — their
// messages. One not recognised falls to the uncounted default, never the other way round.
func malformedResponse(err error) bool {
	var broken fasthttp.ErrBrokenChunk
	var small *fasthttp.ErrSmallBuffer
	if errors.As(err, &broken) || errors.As(err, &small) {
		return true
	}
	for _, sentinel := range [...]error{
		fasthttp.ErrReadingResponseHeaders, fasthttp.ErrReadingResponseTrailer,
		fasthttp.ErrResponseFirstLineMissingSpace, fasthttp.ErrUnexpectedStatusCodeChar,
		fasthttp.ErrDuplicateContentLength, fasthttp.ErrUnsupportedTransferEncoding,
		fasthttp.ErrNonNumericChars, fasthttp.ErrBadTrailer,
	} {
		if errors.Is(err, sentinel) {
			return true
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "error when reading response") || strings.Contains(msg, "hex number") ||
		strings.Contains(msg, "interim responses")
}
