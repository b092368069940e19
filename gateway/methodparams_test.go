package gateway

import (
	"errors"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestMethodOverrideParamNames(t *testing.T) {
	for _, c := range []struct {
		name string
		want bool
	}{
		{"_method", true}, {"_METHOD", true}, {"%5Fmethod", true}, {"%5fMethod", true},
		{".method", true}, {"[method", true}, {"+_method", true}, {"%20_method", true},
		{"_method[]", true}, {"_method%5B%5D", true}, {"_method[x]", true}, {"%u005fmethod", true},
		{"_HttpMethod", true}, {"X-HTTP-Method-Override", true}, {"x_http_method", true},
		{"X-Method-Override", true},
		{"method", false}, {"_methods", false}, {"a_method", false}, {"id", false},
		{"_method2", false}, {"", false}, {"x-http-method-override-x", false},
	} {
		if got := overrideName([]byte(c.name)); got != c.want {
			t.Errorf("overrideName(%q) = %v, want %v", c.name, got, c.want)
		}
	}
	for _, c := range []struct {
		form string
		want bool
	}{
		{"id=1&_method=DELETE", true}, {"_method", true}, {"a=1;_method=PUT", true},
		{"q=_method", false}, {"id=1&x=2", false}, {"", false},
	} {
		if got := formNamesOverride([]byte(c.form)); got != c.want {
			t.Errorf("formNamesOverride(%q) = %v, want %v", c.form, got, c.want)
		}
	}
	for _, c := range []struct {
		body string
		want bool
	}{
		{`{"_method":"DELETE"}`, true}, {`{"\u005fmethod":"PUT"}`, true}, {`{"\u005F\u006De\u0074hod":"PUT"}`, true},
		{"--b\r\nContent-Disposition: form-data; name=\"_Method\"\r\n\r\nPUT\r\n--b--\r\n", true},
		{"--b\r\nContent-Disposition: form-data; name*=utf-8''%5Fmethod\r\n\r\nPUT\r\n--b--\r\n", true},
		{`{"_httpMethod":"PATCH"}`, true},
		{`{"id":"1","method":"x"}`, false}, {`{"id":"\u003c"}`, false}, {`\u00`, false}, {`%5`, false},
	} {
		if got := mentionsOverride([]byte(c.body)); got != c.want {
			t.Errorf("mentionsOverride(%q) = %v, want %v", c.body, got, c.want)
		}
	}
}

func TestRefuseMethodParams(t *testing.T) {
	for _, c := range []struct {
		uri, ctype, encoding, body string
		refused                    bool
	}{
		{"/x?_method=DELETE", "", "", "", true},
		{"/x?id=1&%5Fmethod=PUT", "application/json", "", `{}`, true},
		{"/x?id=1#_method=PUT", "", "", "", false},
		{"/x", "application/x-www-form-urlencoded; charset=utf-8", "", "id=1&_method=DELETE", true},
		{"/x", "", "", "_method=DELETE", true}, // Rack reads a POST without Content-Type as a form
		{"/x", "Multipart/Form-Data; boundary=b", "", "--b\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nPUT\r\n--b--\r\n", true},
		{"/x", "application/vnd.api+json", "", `{"_method":"DELETE"}`, true},
		{"/x", "application/x-www-form-urlencoded", "gzip", "\x1f\x8b...", true},
		{"/x", "application/x-www-form-urlencoded", "identity", "id=1", false},
		{"/x", "application/octet-stream", "gzip", "_method=DELETE", false},
		{"/x", "application/x-www-form-urlencoded", "", "q=_method", false},
		{"/x?id=1", "application/json", "", `{"id":"1"}`, false},
	} {
		var req fasthttp.Request
		req.Header.SetMethod("POST")
		req.SetRequestURI(c.uri)
		if c.ctype != "" {
			req.Header.SetContentType(c.ctype)
		}
		if c.encoding != "" {
			req.Header.Set("Content-Encoding", c.encoding)
		}
		req.SetBodyString(c.body)
		err := refuseMethodParams(&req, false)
		if (err != nil) != c.refused {
			t.Errorf("%s %s (%s, %s) %q: refused %v, want %v", "POST", c.uri, c.ctype, c.encoding, c.body, err, c.refused)
		}
		if err != nil && (err.Status != 400 || err.Code != "method_override") {
			t.Errorf("%s: %d %s, want 400 method_override", c.uri, err.Status, err.Code)
		}
	}
}

func TestMethodParamsAllocateNothing(t *testing.T) {
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.SetRequestURI("/tax/v1/taxpayers?id=1&name=%E5%BC%A0")
	req.Header.SetContentType("application/json")
	req.SetBodyString(`{"id":"1","names":["a","b"],"note":"\u003c_x"}`)
	if n := testing.AllocsPerRun(100, func() {
		if refuseMethodParams(&req, false) != nil {
			t.Fatal("refused")
		}
	}); n != 0 {
		t.Errorf("refuseMethodParams allocates %v times per request", n)
	}
	var args fasthttp.Args
	args.Parse("district=haidian&id=1&x[]=1&y=2")
	if n := testing.AllocsPerRun(100, func() {
		if RefuseAmbiguousQuery(&args) != nil {
			t.Fatal("refused")
		}
	}); n != 0 {
		t.Errorf("RefuseAmbiguousQuery allocates %v times per request", n)
	}
}

func TestAmbiguousQuery(t *testing.T) {
	for _, c := range []struct {
		query   string
		refused bool
	}{
		{"district=haidian&district=chaoyang", true},
		{"district=haidian&District=chaoyang", true},
		{"district=haidian&district[]=chaoyang", true},
		{"district=haidian&district%5B%5D=chaoyang", true},
		{"district=haidian&district[0]=chaoyang", true},
		{"dis.trict=haidian&dis_trict=chaoyang", true},
		{"district=haidian&+district=chaoyang", true},
		{"district=haidian&id=1&districts=x&x[]=1&y[]=2", false},
		{"district=haidian", false},
		{"", false},
	} {
		var args fasthttp.Args
		args.Parse(c.query)
		err := RefuseAmbiguousQuery(&args)
		if (err != nil) != c.refused {
			t.Errorf("%q: refused %v, want %v", c.query, err, c.refused)
		}
		if err != nil && (err.Status != 400 || err.Code != "ambiguous_query") {
			t.Errorf("%q: %d %s", c.query, err.Status, err.Code)
		}
	}
	// More parameters than are compared pairwise: the map path.
	q := ""
	for i := 0; i < 40; i++ {
		q += "p" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "=1&"
	}
	var args fasthttp.Args
	args.Parse(q + "district=1")
	if err := RefuseAmbiguousQuery(&args); err != nil {
		t.Errorf("40 distinct parameters refused: %v", err)
	}
	args.Parse(q + "district=1&DISTRICT[]=2")
	if err := RefuseAmbiguousQuery(&args); err == nil {
		t.Error("a repeated parameter among 42 passed")
	}
}

func TestNotDelivered(t *testing.T) {
	e := &routeEntry{Route: Route{Pool: "p"}}
	up := &Exchange{Upstream: "10.0.0.1:80"}
	for _, c := range []struct {
		x    *Exchange
		err  *Error
		want bool
	}{
		{&Exchange{}, Errorf(503, "no_healthy_upstream", "x"), true},
		{up, Errorf(400, "missing_host", "x"), true},
		{up, Errorf(400, "userinfo_in_target", "x"), true},
		{up, first(upstreamError(fasthttp.ErrNoFreeConns, e)), true},
		{up, first(upstreamError(&upstreamDialError{addr: "a", err: errors.New("refused")}, e)), true},
		{up, first(upstreamError(errStaleConn, e)), true},
		{up, first(upstreamError(fasthttp.ErrTimeout, e)), false},
		{up, first(upstreamError(fasthttp.ErrConnectionClosed, e)), false},
		{up, first(upstreamError(errors.New("something else"), e)), false},
		{up, Errorf(502, "something_new", "x"), false},
	} {
		if got := notDelivered(c.x, c.err); got != c.want {
			t.Errorf("notDelivered(upstream %q, %v) = %v, want %v", c.x.Upstream, c.err, got, c.want)
		}
	}
}

func first(e *Error, _ bool) *Error { return e }
