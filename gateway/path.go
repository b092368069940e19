package gateway

import (
	"bytes"
	"strings"
)

// RawPath is the path of a request target as it arrived: origin-form up to '?', or the
// path of an absolute-form target. It is empty for anything else (asterisk-form, junk).
func RawPath(requestURI []byte) []byte {
	if i := bytes.IndexByte(requestURI, '?'); i >= 0 {
		requestURI = requestURI[:i]
	}
	if i := bytes.IndexByte(requestURI, '#'); i >= 0 {
		requestURI = requestURI[:i]
	}
	if len(requestURI) > 0 && requestURI[0] == '/' {
		return requestURI
	}
	if i := bytes.Index(requestURI, []byte("://")); i > 0 {
		rest := requestURI[i+3:]
		if j := bytes.IndexByte(rest, '/'); j >= 0 {
			return rest[j:]
		}
	}
	return nil
}

// ambiguousPath reports whether a raw path could be read two ways: by the gateway's router
// one way and by a provider's server (Tomcat, Spring, Jetty, IIS, nginx, Apache, Go, Node)
// another. Such a path is refused rather than normalised, since the provider may not
// normalise it as we would. The rule, stated so that it can be checked by reading it:
//
//   - the path starts with '/' and its segments are separated by '/' alone; no segment is
//     empty (but the last may be: a trailing slash), "." or "..", or ends in '.', which IIS
//     strips ("..." is ".." there);
//   - a raw byte is ASCII unreserved (A-Z a-z 0-9 - . _ ~), a sub-delimiter other than ';'
//     (! $ & ' ( ) * + , =), ':' or '@'. So no ';' (a path parameter to Tomcat, Spring and
//     Jetty), no '\' (a separator to IIS and Node), no whitespace, controls, '#', '%'-less
//     junk or raw non-ASCII;
//   - a percent escape has two hex digits and decodes, once, to one of the raw bytes above
//     except '.': so no encoded '/', '\', ';', '%' (double encoding), '.', '?', '#',
//     whitespace or controls;
//   - or escapes, together, a CJK ideograph (U+3400–U+9FFF) in well-formed UTF-8: shortest
//     form, no surrogates, nothing that NFKC or a Windows best-fit mapping turns into ASCII.
//     Overlong forms (%c0%ae), full-width and other look-alike dots and slashes (U+FF0E,
//     U+FF0F, U+2024, U+2215, …) and every other non-ASCII byte are refused.
//
// Whatever a server decodes, it decodes an admitted path to the same segments under the
// same route prefix, and the router, which compares the raw bytes, matches what is sent.
func ambiguousPath(p []byte) bool {
	if len(p) == 0 || p[0] != '/' {
		return true
	}
	segStart := 1
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			if badSegment(p[segStart:i], i == len(p)) {
				return true
			}
			segStart = i + 1
			continue
		}
		c := p[i]
		if c != '%' {
			if !pathByte(c) {
				return true
			}
			continue
		}
		n := escapeLen(p[i:])
		if n == 0 {
			return true
		}
		i += n - 1
	}
	return false
}

// badSegment refuses empty segments (except a trailing slash), dot segments, and segments
// ending in '.'.
func badSegment(seg []byte, last bool) bool {
	if len(seg) == 0 {
		return !last
	}
	return seg[len(seg)-1] == '.'
}

// pathByte reports whether c may stand raw in a path segment: pchar of RFC 3986 less ';'.
func pathByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', '=', ':', '@':
		return true
	}
	return false
}

// escapeLen is the length of the admitted percent escape at the start of p: 3 for one
// escaped ASCII byte, 9 for an escaped ideograph, 0 when p starts with no admitted escape.
func escapeLen(p []byte) int {
	b, ok := unhex(p)
	switch {
	case !ok:
		return 0
	case b < 0x80:
		if b == '.' || !pathByte(b) {
			return 0
		}
		return 3
	}
	// Three bytes 1110xxxx 10xxxxxx 10xxxxxx; the range check below also refuses
	// overlong forms and surrogates, which lie outside it.
	b1, ok1 := unhex(p[min(3, len(p)):])
	b2, ok2 := unhex(p[min(6, len(p)):])
	if !ok1 || !ok2 || b&0xf0 != 0xe0 || b1&0xc0 != 0x80 || b2&0xc0 != 0x80 {
		return 0
	}
	r := rune(b&0x0f)<<12 | rune(b1&0x3f)<<6 | rune(b2&0x3f)
	if r < 0x3400 || r > 0x9fff {
		return 0
	}
	return 9
}

// unhex decodes a "%XX" at the start of p.
func unhex(p []byte) (byte, bool) {
	if len(p) < 3 || p[0] != '%' || !isHex(p[1]) || !isHex(p[2]) {
		return 0, false
	}
	return hexVal(p[1])<<4 | hexVal(p[2]), true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func hexVal(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// cleanPrefix drops a trailing slash so that "/population/" and "/population" name the
// same route prefix; the root stays "/".
func cleanPrefix(p string) string {
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
		if p == "" {
			p = "/"
		}
	}
	return p
}

// prefixMatches is true when path is prefix or lies below it on a segment boundary, so that
// "/population" matches "/population/v1" but not "/populationx".
func prefixMatches[P ~string | ~[]byte](prefix string, path P) bool {
	if prefix == "/" {
		return true
	}
	if len(path) < len(prefix) || string(path[:len(prefix)]) != prefix {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/'
}
