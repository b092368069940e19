package gateway

import (
	"github.com/valyala/fasthttp"
)

// When the policy reads the query, it sees input.request.query: the first value of each
// parameter, as fasthttp decodes it. Providers read a repeated parameter differently — PHP
// and Express take the last value, ASP.NET joins them ("a,b"), others keep all — so a
// request repeating a parameter would be decided on one value and executed on another.
// Such a request is refused (400 ambiguous_query) before the policy is evaluated.
//
// "Repeated" is judged on the names as the policy sees them (fasthttp's decoding of
// percent escapes and '+'), folded further the way common providers fold them:
//   - in any ASCII case: ASP.NET's query collection is case-insensitive, so district and
//     District are one parameter there and two to the policy;
//   - PHP's reading: leading spaces dropped, '.' and ' ' read as '_', and `name[...]` as
//     the array `name` — so district, district[] (district%5B%5D), district[0] and
//     dis.trict/dis_trict are each the same parameter as their other spellings.
//
// A name that occurs once passes, whatever its form: the policy then sees the only value a
// provider can read. Only requests whose revision reads the query are checked, as only
// they give the policy a query.

// queryScanSmall is how many parameters are compared pairwise, without allocating; a query
// with more is checked with a map.
const queryScanSmall = 32

// RefuseAmbiguousQuery refuses a query that names one parameter more than once.
func RefuseAmbiguousQuery(args *fasthttp.Args) *Error {
	n := args.Len()
	if n < 2 {
		return nil
	}
	if n <= queryScanSmall {
		var names [queryScanSmall][]byte
		i := 0
		for k := range args.All() {
			for _, prev := range names[:i] {
				if sameParamName(prev, k) {
					return errAmbiguousQuery(k)
				}
			}
			names[i] = k
			i++
		}
		return nil
	}
	seen := make(map[string]struct{}, n)
	buf := make([]byte, 0, 64)
	for k := range args.All() {
		buf = appendParamName(buf[:0], k)
		if _, dup := seen[string(buf)]; dup {
			return errAmbiguousQuery(k)
		}
		seen[string(buf)] = struct{}{}
	}
	return nil
}

func errAmbiguousQuery(name []byte) *Error {
	if len(name) > 64 {
		name = name[:64]
	}
	return Errorf(fasthttp.StatusBadRequest, "ambiguous_query", "query parameter %q is sent more than once (names compared in any case, with name[] as name): the policy decides on the first value and a provider may act on another", name)
}

// paramNameNext returns the next byte of name's folded form from position i, and the
// position after it; ok is false at the end of the folded name.
func paramNameNext(name []byte, i int, started bool) (c byte, next int, ok bool) {
	for i < len(name) {
		c = name[i]
		if c == ' ' && !started {
			i++ // PHP drops leading spaces
			continue
		}
		if c == '[' && started {
			return 0, len(name), false // name[...] is the array name
		}
		switch c {
		case '.', ' ', '[':
			c = '_'
		}
		return lowerASCII(c), i + 1, true
	}
	return 0, i, false
}

// sameParamName compares two decoded names in their folded forms, without allocating.
func sameParamName(a, b []byte) bool {
	i, j := 0, 0
	started := false
	for {
		ca, ni, oka := paramNameNext(a, i, started)
		cb, nj, okb := paramNameNext(b, j, started)
		if oka != okb {
			return false
		}
		if !oka {
			return true
		}
		if ca != cb {
			return false
		}
		i, j, started = ni, nj, true
	}
}

// appendParamName appends name's folded form to dst.
func appendParamName(dst, name []byte) []byte {
	started := false
	for i := 0; ; {
		c, next, ok := paramNameNext(name, i, started)
		if !ok {
			return dst
		}
		dst = append(dst, c)
		i, started = next, true
	}
}
