package gateway

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Method override parameters. Besides the header fields of methodOverrides, frameworks
// read the method a provider acts on from a request parameter: Rails (Rack::MethodOverride),
// Laravel and Symfony (http_method_override), Spring (HiddenHttpMethodFilter), Express
// (method-override) read `_method` from a POST's form body, Laravel and Symfony also from
// the query and Laravel from a JSON body; Jersey's HttpMethodOverrideFilter reads `_method`
// from the query; Salesforce-style APIs read `_HttpMethod`; some Java stacks accept the
// header names as query parameters. The policy decided on the request's own method, so a
// request carrying any of them is refused — 400 method_override, audited, never forwarded.
//
// Names are compared after the decoding those servers apply: percent escapes (and %uXXXX,
// which IIS decodes), '+' as a space in forms, in any case; PHP's leading spaces are
// ignored, its '.', ' ' and '[' count as '_', and a `[...]` suffix names the same
// parameter (`_method[]`, `.method`, `%5Fmethod` are `_method` to PHP).
//
// Where they are looked for:
//   - the query, of every request, name by name;
//   - an application/x-www-form-urlencoded body, or a body without Content-Type (Rack
//     parses a POST without one as a form), name by name, split on '&' and ';';
//   - a multipart/* or JSON body: these have part headers, nested keys and escapes
//     (`\u005f`) that are not parsed here, so the whole body is scanned and any mention of
//     `_method` or `_httpmethod` (decoded as above, JSON escapes too) refuses the request.
//     A value that merely contains such a word is refused as well: refusal on doubt.
//   - a body of these types with a Content-Encoding other than identity cannot be scanned
//     and is refused.
//
// Other bodies (octet-stream, XML, text) are not parsed for parameters by these
// frameworks and are not scanned. Nothing here allocates.

// methodOverrideParams are the refused names in the form nameFold compares: lower case,
// with '_' for '-'.
var methodOverrideParams = [...]string{"_method", "_httpmethod", "x_http_method_override", "x_http_method", "x_method_override"}

// refuseMethodParams is called once per exchange by the pipeline, after authentication
// (so the record names who sent it) and before routing and the decision (so no decision is
// made and no quota taken on a method the provider would not act on).
func refuseMethodParams(req *fasthttp.Request, streamed bool) *Error {
	if q := rawQuery(req.Header.RequestURI()); len(q) > 0 && formNamesOverride(q) {
		return errMethodOverrideParam()
	}
	if streamed {
		return refuseStreamedParams(req)
	}
	body := req.Body()
	if len(body) == 0 {
		return nil
	}
	form, scan := bodyKind(req.Header.ContentType())
	if !form && !scan {
		return nil
	}
	if ce := req.Header.ContentEncoding(); len(ce) > 0 && !equalFold(ce, "identity") {
		return Errorf(fasthttp.StatusBadRequest, "method_override", "a form, multipart or JSON request body with a Content-Encoding cannot be checked for a method override parameter (_method and the like) and is refused")
	}
	if (form && formNamesOverride(body)) || (scan && mentionsOverride(body)) {
		return errMethodOverrideParam()
	}
	return nil
}

// refuseStreamedParams: a streamed body (an upload to an exchange or publish route) goes
// to the provider before it has all arrived, so it cannot be scanned first. A body of a
// kind the frameworks read parameters from (a form, no Content-Type, multipart, JSON) is
// read whole before the pipeline instead (prepareRequestBody) and never streams; should
// one stream all the same, it is refused before anything is forwarded. Datasets are
// exchanged as CSV, NDJSON or opaque types, which they do not parse.
func refuseStreamedParams(req *fasthttp.Request) *Error {
	if form, scan := bodyKind(req.Header.ContentType()); form || scan {
		return Errorf(fasthttp.StatusUnsupportedMediaType, "upload_type_refused", "a streamed request body must not be a form, multipart or JSON body, nor lack a Content-Type: such a body could carry a method override parameter (_method and the like) that cannot be checked before it is forwarded; send the dataset as text/csv, application/x-ndjson or an opaque type")
	}
	return nil
}

func errMethodOverrideParam() *Error {
	return Errorf(fasthttp.StatusBadRequest, "method_override", "a method override parameter (_method, _HttpMethod, X-HTTP-Method-Override and the like, in the query or the body) is refused: the policy decides on the request's own method")
}

// rawQuery is the query of a request target as received, without the fragment.
func rawQuery(uri []byte) []byte {
	i := bytes.IndexByte(uri, '?')
	if i < 0 {
		return nil
	}
	q := uri[i+1:]
	if j := bytes.IndexByte(q, '#'); j >= 0 {
		q = q[:j]
	}
	return q
}

// bodyKind says how a body of this Content-Type is read for parameters: name by name as a
// form, or scanned whole.
func bodyKind(ct []byte) (form, scan bool) {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	switch {
	case len(ct) == 0, equalFold(ct, "application/x-www-form-urlencoded"):
		return true, false
	case len(ct) >= len("multipart/") && equalFold(ct[:len("multipart/")], "multipart/"),
		equalFold(ct, "application/json"),
		len(ct) >= len("+json") && equalFold(ct[len(ct)-len("+json"):], "+json"):
		return false, true
	}
	return false, false
}

// formNamesOverride reports whether a query or urlencoded form names a refused parameter.
func formNamesOverride(b []byte) bool {
	for len(b) > 0 {
		seg := b
		if i := bytes.IndexAny(b, "&;"); i >= 0 {
			seg, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if i := bytes.IndexByte(seg, '='); i >= 0 {
			seg = seg[:i]
		}
		if overrideName(seg) {
			return true
		}
	}
	return false
}

// overrideName decodes one raw parameter name as PHP would read it and compares it with
// methodOverrideParams.
func overrideName(raw []byte) bool {
	var buf [len("x_http_method_override")]byte
	n := 0
	for i := 0; i < len(raw); {
		c, w := decodedAt(raw, i, true)
		i += w
		if c == ' ' && n == 0 {
			continue // PHP drops leading spaces
		}
		if c == '[' && n > 0 {
			break // name[...] is the parameter name, as an array
		}
		if n == len(buf) {
			return false
		}
		buf[n] = nameFold(c)
		n++
	}
	for _, s := range methodOverrideParams {
		if string(buf[:n]) == s {
			return true
		}
	}
	return false
}

// nameFold is c in lower case, with '_' for the bytes PHP or the header-style names use in
// its place.
func nameFold(c byte) byte {
	switch c {
	case '.', ' ', '[', '-':
		return '_'
	}
	return lowerASCII(c)
}

// mentionsOverride reports whether a multipart or JSON body contains `_method` or
// `_httpmethod` anywhere, in any case, with '.' or '[' for '_', after percent or \u
// decoding of any of its bytes.
func mentionsOverride(b []byte) bool {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '_', '.', '[', '%', '\\':
		default:
			continue
		}
		c, w := decodedAt(b, i, false)
		if c != '_' && c != '.' && c != '[' {
			continue
		}
		if foldedAt(b, i+w, "method") || foldedAt(b, i+w, "httpmethod") {
			return true
		}
	}
	return false
}

// foldedAt reports whether b holds word (lower case) from i, decoded and in any case.
func foldedAt(b []byte, i int, word string) bool {
	for k := 0; k < len(word); k++ {
		if i >= len(b) {
			return false
		}
		c, w := decodedAt(b, i, false)
		if lowerASCII(c) != word[k] {
			return false
		}
		i += w
	}
	return true
}

// decodedAt is the byte at b[i] after one level of decoding — %XX, %uXXXX, \uXXXX, and
// '+' as a space when plus — and how many bytes of b it took. A code point above 0x7f
// decodes to 0xff, which matches no name.
func decodedAt(b []byte, i int, plus bool) (byte, int) {
	c := b[i]
	switch {
	case c == '+' && plus:
		return ' ', 1
	case c == '%' && i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]):
		return hexVal(b[i+1])<<4 | hexVal(b[i+2]), 3
	case (c == '%' || c == '\\') && i+5 < len(b) && (b[i+1] == 'u' || b[i+1] == 'U') &&
		isHex(b[i+2]) && isHex(b[i+3]) && isHex(b[i+4]) && isHex(b[i+5]):
		if b[i+2] != '0' || b[i+3] != '0' || hexVal(b[i+4]) > 7 {
			return 0xff, 6
		}
		return hexVal(b[i+4])<<4 | hexVal(b[i+5]), 6
	}
	return c, 1
}
