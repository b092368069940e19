package gateway

import (
	"encoding/json"
	"fmt"

	"github.com/govgate/govgate/wire"

	"github.com/valyala/fasthttp"
)

// Error is a refusal with the HTTP status and machine-readable code a caller sees. Stages
// return it to refuse an exchange for a reason the caller may know; any other error is
// reported to the caller only by its status and a generic code, and to the log in full.
type Error struct {
	Status  int
	Code    string
	Message string
	Reasons []Reason // decision reasons, for policy refusals
	cause   error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.cause)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.cause }

// Errorf builds a refusal. The message goes to the caller: it must hold no secret.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithCause attaches an internal error that is logged but never sent to the caller.
func (e *Error) WithCause(err error) *Error {
	e.cause = err
	return e
}

// ReleaseRefusal is a response the release stage withholds: 403 release_denied when the
// consumer may not have it (denied), 502 release_refused when the provider sent what
// cannot be released.
func ReleaseRefusal(denied bool, r Reason) *Error {
	if denied {
		return &Error{Status: fasthttp.StatusForbidden, Code: "release_denied", Message: "the response may not be released to this consumer", Reasons: []Reason{r}}
	}
	return &Error{Status: fasthttp.StatusBadGateway, Code: "release_refused", Message: "the provider's response cannot be released", Reasons: []Reason{r}}
}

func errAmbiguousPath() *Error {
	return Errorf(fasthttp.StatusBadRequest, "ambiguous_path", "the request path has dot segments, encoded separators, empty segments or backslashes")
}

func errNoRoute() *Error {
	return Errorf(fasthttp.StatusNotFound, "no_route", "no route serves this host and path")
}

// errorBody is the JSON every refusal carries: {"error":{"code","message","request_id"}}.
type errorBody struct {
	Error struct {
		Code      string   `json:"code"`
		Message   string   `json:"message"`
		RequestID string   `json:"request_id"`
		Reasons   []Reason `json:"reasons,omitempty"`
	} `json:"error"`
}

// writeError replaces whatever response was being built with the JSON refusal.
func writeError(resp *fasthttp.Response, e *Error, requestID []byte) {
	var body errorBody
	body.Error.Code = e.Code
	body.Error.Message = e.Message
	body.Error.RequestID = string(requestID)
	body.Error.Reasons = e.Reasons
	data, err := json.Marshal(&body)
	if err != nil { // cannot happen for these field types; keep a valid body regardless
		data = []byte(`{"error":{"code":"internal","message":"error encoding failed"}}`)
	}
	resp.Reset()
	resp.SetStatusCode(e.Status)
	resp.Header.SetContentType("application/json")
	if len(requestID) > 0 {
		resp.Header.SetBytesV(wire.HeaderRequestID, requestID)
	}
	resp.SetBody(data)
}
