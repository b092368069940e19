package gateway

import (
	"bytes"
	"strings"
)

// rawPath is the path of a request target as it arrived: origin-form up to '?', or the
// path of an absolute-form target. It is empty for anything else (asterisk-form, junk).
func rawPath(requestURI []byte) []byte {
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
// one way and by a provider's server another. Such a path is refused rather than
// normalised, since the provider may not normalise it as we would. Refused: dot segments,
// empty segments ("//"), backslashes, encoded dots, slashes, backslashes and percent signs
// (double encoding), NUL and control bytes, and malformed percent escapes.
func ambiguousPath(p []byte) bool {
	if len(p) == 0 || p[0] != '/' {
		return true
	}
	segStart := 1
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c < 0x20 || c == 0x7f || c == '\\':
			return true
		case c == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return true
			}
			switch lower(p[i+1])<<8 | lower(p[i+2]) {
			case '2'<<8 | 'e', '2'<<8 | 'f', '5'<<8 | 'c', '2'<<8 | '5', '0'<<8 | '0':
				return true
			}
			i += 2
		case c == '/' && i > 0:
			if dotSegment(p[segStart:i]) || i == segStart {
				return true
			}
			segStart = i + 1
		}
	}
	return dotSegment(p[segStart:])
}

func dotSegment(seg []byte) bool {
	return len(seg) == 1 && seg[0] == '.' || len(seg) == 2 && seg[0] == '.' && seg[1] == '.'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func lower(c byte) uint16 {
	if 'A' <= c && c <= 'Z' {
		return uint16(c + 'a' - 'A')
	}
	return uint16(c)
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
