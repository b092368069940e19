package gateway

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/emmansun/gmsm/sm4"
	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/wire"
)

// Validators of resources released row by row on a publish route. The provider's ETag
// describes its whole document; the consumer receives a cut of it (fields, masks, labels:
// the decision's release profile). The gateway therefore states its own ETag for the cut,
// wire.ReleasedTagPrefix + base64url(sealed): a strong tag (weak when the provider's is),
// since the cut is a function of the provider's bytes and the profile alone. sealed is the
// provider's entity-tag under SM4-GCM with the profile as associated data (TagSealer), so
// the consumer learns neither: many providers' ETag is a hash of the whole document (S3's
// MD5, a content SHA-256), which would let a consumer confirm guesses of the fields
// withheld from it, and the profile is a hash of the cut's labels and masks. On
// If-None-Match the gateway opens each member under the consumer's profile now and
// forwards the provider tags that open; a member of another profile (a reload changed this
// consumer's fields or masks, another consumer's tag), a forgery (it does not open), the
// provider's own tag, "*", garbage or too long a list is not forwarded, so the provider
// answers in full and the consumer never keeps a cut released under other terms.
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

// TagSealer seals the provider's entity-tag into the gateway's ETag of a cut and opens it
// again from If-None-Match. Its key is drawn when it is made and never leaves the process:
// tags a gateway stated before a restart, or another gateway of a fleet, do not open, and
// the consumer is answered in full (a cache miss, never a wrong 304). A nil TagSealer
// states no ETag and forwards no condition.
//
// The nonce is derived from the sealed tag and profile (HMAC-SM3 under a second key, as
// SIV does): the same representation under the same profile gets the same ETag, so a
// consumer's cache keeps one entry, and a nonce repeats only with its plaintext.
type TagSealer struct {
	aead   cipher.AEAD
	macKey []byte
}

// tagNonce is the nonce's length in the sealed tag (GCM's standard 12 bytes).
const tagNonce = 12

// NewTagSealer returns a sealer under fresh random keys.
func NewTagSealer() (*TagSealer, error) {
	key := make([]byte, crypto.SM4KeySize+32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("ETag sealer key: %w", err)
	}
	block, err := sm4.NewCipher(key[:crypto.SM4KeySize])
	if err != nil {
		return nil, fmt.Errorf("ETag sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("ETag sealer: %w", err)
	}
	return &TagSealer{aead: aead, macKey: key[crypto.SM4KeySize:]}, nil
}

// tagBlock is what the sealed provider tag is padded to a multiple of: the length of the
// gateway's tag must not be the provider's. nginx's ETag is "<mtime hex>-<size hex>" of the
// whole document, and its length alone gives the size's order of magnitude, withheld
// fields included; S3's multipart tag ends in the count of parts.
const tagBlock = 32

// seal is base64url(nonce || SM4-GCM(pad(provider), ad: profile)).
func (s *TagSealer) seal(provider []byte, profile string) string {
	nonce := crypto.HMACSM3(s.macKey, append([]byte(profile+"\x00"), provider...))[:tagNonce]
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, padTag(provider), []byte(profile)))
}

// padTag appends 0x80 and then zeros up to a multiple of tagBlock (ISO/IEC 7816-4): an
// entity-tag ends in '"', so the padding is read back unambiguously.
func padTag(tag []byte) []byte {
	n := (len(tag)/tagBlock + 1) * tagBlock
	out := make([]byte, n)
	copy(out, tag)
	out[len(tag)] = 0x80
	return out
}

// unpadTag removes padTag's padding, or reports false.
func unpadTag(p []byte) ([]byte, bool) {
	i := len(p) - 1
	for i >= 0 && p[i] == 0 {
		i--
	}
	if i < 0 || p[i] != 0x80 || len(p)%tagBlock != 0 {
		return nil, false
	}
	return p[:i], true
}

// open recovers the provider's entity-tag sealed under profile, or false.
func (s *TagSealer) open(sealed []byte, profile string) ([]byte, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(string(sealed))
	if err != nil || len(raw) < tagNonce+s.aead.Overhead() {
		return nil, false
	}
	p, err := s.aead.Open(nil, raw[:tagNonce], raw[tagNonce:], []byte(profile))
	if err != nil {
		return nil, false
	}
	return unpadTag(p)
}

// ReleasedConditions returns the If-None-Match to forward for a consumer whose release
// profile is profile: the provider's tags recovered from the consumer's If-None-Match
// members of this profile, or nil when there are none (or the field is malformed, too
// long, or sent more than once). It leaves the request as it is; the caller removes the
// consumer's conditions (DropRangeRequest) and sets what this returns.
func (s *TagSealer) ReleasedConditions(h *fasthttp.RequestHeader, profile string) []byte {
	if s == nil {
		return nil
	}
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
		if p, ok := s.providerTagOf(tag, profile); ok && !containsTag(out, p) {
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
func (s *TagSealer) ReleasedETag(provider []byte, profile string) (string, bool) {
	if s == nil || len(provider) > maxProviderTag {
		return "", false
	}
	_, weak, rest, ok := nextETag(provider)
	if !ok || len(rest) != 0 {
		return "", false
	}
	tag := `"` + wire.ReleasedTagPrefix + s.seal(provider, profile) + `"`
	if weak {
		tag = "W/" + tag
	}
	return tag, true
}

// providerTagOf recovers the provider's entity-tag from the opaque-tag (quotes included)
// of one of the gateway's tags of profile.
func (s *TagSealer) providerTagOf(opaque []byte, profile string) ([]byte, bool) {
	inner := opaque[1 : len(opaque)-1]
	rest, ok := bytes.CutPrefix(inner, []byte(wire.ReleasedTagPrefix))
	if !ok {
		return nil, false
	}
	p, ok := s.open(rest, profile)
	if !ok || len(p) > maxProviderTag {
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
func (s *TagSealer) ReleaseValidators(resp *fasthttp.ResponseHeader, req *fasthttp.RequestHeader, profile string) error {
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
	if tag, ok := s.ReleasedETag(provider, profile); ok {
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
