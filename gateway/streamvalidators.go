package gateway

import (
	"bytes"
	"encoding/base64"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/wire"
)

// Validators of resources released row by row on a publish route. The provider's ETag
// describes its whole document; the consumer receives a cut of it (fields, masks, labels:
// the decision's release profile). The gateway therefore states its own ETag for the cut,
// wire.ReleasedTagPrefix + profile + "." + base64url(provider's entity-tag): a strong tag
// (weak when the provider's is), since the cut is a function of the provider's bytes and
// the profile alone. On If-None-Match the gateway recovers the provider's tag from each
// member whose profile is the consumer's profile now, and forwards only those; a member of
// another profile (a reload changed this consumer's fields or masks, another consumer's
// tag, a forgery), the provider's own tag, "*", garbage or too long a list is not
// forwarded, so the provider answers in full and the consumer never keeps a cut released
// under other terms. The tag is not keyed: a member decodes only to a well-formed
// entity-tag (no list, no "*"), and it tells the consumer nothing a 200 does not.
//
// Last-Modified and If-Modified-Since are not carried on such a resource: a date says when
// the provider's document changed, not when the consumer's cut did (a reload changing its
// fields has no date the provider knows, and one rolled back would make an older date
// current again), so a 304 to If-Modified-Since could keep a consumer on rows released
// under a previous agreement. RFC 9110 13.1.3 has If-None-Match take precedence anyway.

// maxConditionTags bounds the members of an If-None-Match the gateway reads: a longer list
// is not forwarded at all.
const maxConditionTags = 16

// maxProviderTag bounds a provider's entity-tag the gateway embeds in its own.
const maxProviderTag = 256

// ReleasedConditions returns the If-None-Match to forward for a consumer whose release
// profile is profile: the provider's tags recovered from the consumer's If-None-Match
// members of this profile, or nil when there are none (or the field is malformed, too
// long, or sent more than once). It leaves the request as it is; the caller removes the
// consumer's conditions (DropRangeRequest) and sets what this returns.
func ReleasedConditions(h *fasthttp.RequestHeader, profile string) []byte {
	var value []byte
	fields := 0
	for k, v := range h.All() {
		if equalFold(k, fasthttp.HeaderIfNoneMatch) {
			fields++
			value = v
		}
	}
	if fields != 1 {
		return nil
	}
	var out []byte
	n := 0
	for rest := value; ; {
		rest = trimOWS(rest)
		if len(rest) == 0 {
			break
		}
		tag, _, after, ok := nextETag(rest)
		if !ok {
			return nil
		}
		if n++; n > maxConditionTags {
			return nil
		}
		if p, ok := providerTagOf(tag, profile); ok && !containsTag(out, p) {
			if len(out) > 0 {
				out = append(out, ", "...)
			}
			out = append(out, p...)
		}
		rest = trimOWS(after)
		if len(rest) > 0 {
			if rest[0] != ',' {
				return nil
			}
			rest = rest[1:]
		}
	}
	return out
}

// ReleasedETag is the gateway's ETag of the cut of profile from the representation whose
// entity-tag is provider (as the provider wrote it, W/ included), or false when provider
// is not one well-formed entity-tag the gateway embeds.
func ReleasedETag(provider []byte, profile string) (string, bool) {
	if len(provider) > maxProviderTag {
		return "", false
	}
	_, weak, rest, ok := nextETag(provider)
	if !ok || len(rest) != 0 {
		return "", false
	}
	tag := `"` + wire.ReleasedTagPrefix + profile + "." + base64.RawURLEncoding.EncodeToString(provider) + `"`
	if weak {
		tag = "W/" + tag
	}
	return tag, true
}

// providerTagOf recovers the provider's entity-tag from the opaque-tag (quotes included)
// of one of the gateway's tags of profile.
func providerTagOf(opaque []byte, profile string) ([]byte, bool) {
	inner := opaque[1 : len(opaque)-1]
	rest, ok := bytes.CutPrefix(inner, []byte(wire.ReleasedTagPrefix+profile+"."))
	if !ok {
		return nil, false
	}
	p, err := base64.RawURLEncoding.DecodeString(string(rest))
	if err != nil || len(p) > maxProviderTag {
		return nil, false
	}
	if _, _, after, ok := nextETag(p); !ok || len(after) != 0 {
		return nil, false
	}
	return p, true
}

// nextETag reads one entity-tag (RFC 9110 8.8.3) at the start of s: its opaque-tag,
// quotes included, whether it is weak, and what follows it.
func nextETag(s []byte) (opaque []byte, weak bool, rest []byte, ok bool) {
	if bytes.HasPrefix(s, []byte("W/")) {
		weak, s = true, s[2:]
	}
	if len(s) < 2 || s[0] != '"' {
		return nil, false, nil, false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return s[:i+1], weak, s[i+1:], true
		case c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80:
		default:
			return nil, false, nil, false
		}
	}
	return nil, false, nil, false
}

func trimOWS(s []byte) []byte { return bytes.TrimLeft(s, " \t") }

// containsTag reports whether the list built by ReleasedConditions has tag (weak
// comparison: W/ ignored), so that a tag is forwarded once.
func containsTag(list, tag []byte) bool {
	for rest := list; len(rest) > 0; {
		t, _, after, ok := nextETag(trimOWS(rest))
		if !ok {
			return false
		}
		if bytes.Equal(t, opaqueOf(tag)) {
			return true
		}
		rest = bytes.TrimPrefix(trimOWS(after), []byte(","))
	}
	return false
}

func opaqueOf(tag []byte) []byte { return bytes.TrimPrefix(tag, []byte("W/")) }

// ReleaseValidators replaces the provider's validators on the response to a request for a
// resource released row by row on a publish route: its one well-formed ETag becomes the
// gateway's tag of profile (none when it sent none, several or a malformed one), and
// Last-Modified goes. On a 304 the provider's tag, when it sends one, must be one of the
// tags req forwarded (the consumer's cut is of that representation); a 304 with another
// is refused. req is the request as forwarded.
func ReleaseValidators(resp *fasthttp.ResponseHeader, req *fasthttp.RequestHeader, profile string) error {
	var provider []byte
	tags := 0
	for k, v := range resp.All() {
		if equalFold(k, fasthttp.HeaderETag) {
			tags++
			provider = append(provider[:0], v...)
		}
	}
	DropResponseValidators(resp)
	if tags != 1 {
		provider = nil
	}
	asked := req.Peek(fasthttp.HeaderIfNoneMatch)
	if resp.StatusCode() == fasthttp.StatusNotModified {
		switch {
		case provider != nil && !containsTag(asked, provider):
			return ReleaseRefusal(false, Reason{Code: "NOT_MODIFIED_OTHER_TAG", Message: "the provider answered 304 with an ETag the consumer did not hold"})
		case provider == nil && tags == 0:
			if t, weak, rest, ok := nextETag(asked); ok && len(trimOWS(rest)) == 0 {
				provider = t // the one tag asked for is the one not modified
				if weak {
					provider = append([]byte("W/"), t...)
				}
			}
		case provider == nil:
			return ReleaseRefusal(false, Reason{Code: "NOT_MODIFIED_OTHER_TAG", Message: "the provider answered 304 with a malformed or repeated ETag"})
		}
	}
	if provider == nil {
		return nil
	}
	if tag, ok := ReleasedETag(provider, profile); ok {
		resp.Set(fasthttp.HeaderETag, tag)
	}
	return nil
}

// unaskedNotModified reports a 304 to a request the gateway forwarded without a condition
// that could produce one (If-None-Match, If-Modified-Since): a consumer that did not ask
// conditionally holds no copy a 304 could refer to, so passing it would leave the consumer
// with nothing while the record says not modified. Such a 304 is refused (502).
func unaskedNotModified(ctx *fasthttp.RequestCtx) *Error {
	if ctx.Response.StatusCode() != fasthttp.StatusNotModified {
		return nil
	}
	h := &ctx.Request.Header
	if len(h.Peek(fasthttp.HeaderIfNoneMatch)) > 0 || len(h.Peek(fasthttp.HeaderIfModifiedSince)) > 0 {
		return nil
	}
	return ReleaseRefusal(false, Reason{Code: "NOT_MODIFIED_UNASKED", Message: "the provider answered 304 to a request that was not conditional"})
}
