package gateway

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// connectionOracle splits a Connection value the plain way, for the fuzz targets to
// compare the gateway's allocation-free parser against.
func connectionOracle(v string) []string {
	var out []string
	for _, t := range strings.Split(v, ",") {
		if t = strings.Trim(t, " \t"); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func FuzzConnectionTokens(f *testing.F) {
	for _, s := range []string{"", "close", "keep-alive, X-Classification", " , ,a,,b ,", "\tx\t,\ty", "a,b,c", ",,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var got []string
		for tok := range connectionTokens([]byte(v)) {
			got = append(got, string(tok))
		}
		want := connectionOracle(v)
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
			t.Fatalf("%q: tokens %q, want %q", v, got, want)
		}
	})
}

// FuzzResponseHeaders feeds provider-written header sections, as the upstream client
// parses them (names not normalized), to stripResponseHeaders and checks what the release
// stage relies on: only allowlisted, un-nominated fields remain, no X-Classification in any
// case remains, and the label count and nomination match a plain reading of the fields.
func FuzzResponseHeaders(f *testing.F) {
	for _, s := range []string{
		"x-classification: secret\r\n",
		"X-Classification: internal\r\nX-Classification: secret\r\n",
		"Connection: X-Classification\r\nX-Classification: secret\r\n",
		"connection: keep-alive, cache-control\r\nCache-Control: no-store\r\nkeep-alive: 5\r\n",
		"Set-Cookie: a=b\r\nserver: x\r\nETag: \"1\"\r\nX-Total-Count: 3\r\n",
		"X-Classification:\r\nConnection: close\r\n",
		"Trailer: X-Classification\r\nTransfer-Encoding: chunked\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, head string) {
		var resp fasthttp.Response
		resp.Header.DisableNormalizing()
		raw := "HTTP/1.1 200 OK\r\n" + head + "Content-Length: 0\r\n\r\n"
		if resp.Read(bufio.NewReader(strings.NewReader(raw))) != nil {
			return
		}
		h := &resp.Header
		unannounceTrailers(h)
		labels, nominated := 0, false
		for k, v := range h.All() {
			switch {
			case strings.EqualFold(string(k), HeaderClassification):
				labels++
			case strings.EqualFold(string(k), "Connection"):
				for _, tok := range connectionOracle(string(v)) {
					nominated = nominated || strings.EqualFold(tok, HeaderClassification)
				}
			}
		}
		x := &Exchange{entry: &routeEntry{Route: Route{ResponseHeaders: []string{"X-Total-Count"}}}}
		stripResponseHeaders(h, x)
		if x.labels != labels || x.labelNominated != nominated {
			t.Fatalf("%q: read %d labels (nominated %v), want %d (%v)", head, x.labels, x.labelNominated, labels, nominated)
		}
		for k := range h.All() {
			name := string(k)
			if !oneOfFold(name, releasedResponseHeaders[:]) && !strings.EqualFold(name, "X-Total-Count") {
				t.Fatalf("%q: %s reached the consumer", head, name)
			}
		}
		if v := h.Peek(HeaderClassification); v != nil {
			t.Fatalf("%q: the provider's label remained", head)
		}
		var out bytes.Buffer
		if _, err := resp.WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(bytes.ToLower(out.Bytes()), []byte("x-classification")) {
			t.Fatalf("%q: the provider's label would be written: %q", head, out.Bytes())
		}
	})
}

// FuzzRequestHeaders feeds client-written header sections, parsed as the gateway's server
// parses them, through captureDeclared and stripRequestHeaders: a request they pass carries
// to the provider no X-Govgate-*, hop-by-hop, forwarding or nominated field, and one they
// refuse had a duplicated declaration or signature field, a nominated field the gateway
// reads, or a method override.
func FuzzRequestHeaders(f *testing.F) {
	for _, s := range []string{
		"X-Govgate-Purpose: a\r\nx-govgate-purpose: b\r\n",
		"connection: x-govgate-agreement\r\nX-Govgate-Agreement: A\r\n",
		"Connection: x-secret\r\nx-secret: 1\r\nX-Real-IP: 1.2.3.4\r\n",
		"x-http-method-override: DELETE\r\n",
		"Forwarded: for=1.2.3.4\r\nx-forwarded-for: 1\r\nX-Kept: yes\r\n",
		"X_Govgate_Consumer_Dept: 110000-x\r\nX_Trace: 1\r\n",
		"content_length: 5\r\nx-forwarded_for: 1\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, head string) {
		var req fasthttp.Request
		raw := "GET /p HTTP/1.1\r\nHost: gw\r\n" + head + "\r\n"
		if req.Read(bufio.NewReader(strings.NewReader(raw))) != nil {
			return
		}
		h := &req.Header
		declared := map[string]int{}
		var tokens []string
		override := false
		for k, v := range h.All() {
			name := strings.ToLower(string(k))
			declared[name]++
			if name == "connection" {
				tokens = append(tokens, connectionOracle(string(v))...)
			}
			override = override || oneOfFold(name, methodOverrides[:]) || underscoreOracle(name)
		}
		shouldRefuse := override
		for _, tok := range tokens {
			tok = strings.ToLower(tok)
			shouldRefuse = shouldRefuse || strings.HasPrefix(tok, "x-govgate-") || tok == "host" ||
				tok == "signature" || tok == "signature-input" || tok == "content-digest"
		}
		for _, name := range []string{"x-govgate-agreement", "x-govgate-purpose", "signature", "signature-input", "content-digest"} {
			shouldRefuse = shouldRefuse || declared[name] > 1
		}
		x := &Exchange{}
		err := captureDeclared(h, x)
		if err == nil {
			err = stripRequestHeaders(h, x)
		}
		if (err != nil) != shouldRefuse {
			t.Fatalf("%q: refused %v, want %v", head, err, shouldRefuse)
		}
		if err != nil {
			return
		}
		for k := range h.All() {
			name := string(k)
			if hasGovgatePrefix(name) || isHopByHop(name) || oneOfFold(name, clientForwarding[:]) || strings.Contains(name, "_") {
				t.Fatalf("%q: %s reaches the provider", head, name)
			}
			for _, tok := range tokens {
				if strings.EqualFold(tok, name) {
					t.Fatalf("%q: %s, nominated by Connection, reaches the provider", head, name)
				}
			}
		}
	})
}

// underscoreOracle is the plain statement of the underscore rule: a name with '_' that,
// read with '-' for '_', is a field the gateway reads, sets or removes (or is too long to
// tell) refuses the request.
func underscoreOracle(lower string) bool {
	if !strings.Contains(lower, "_") {
		return false
	}
	if len(lower) > 128 {
		return true
	}
	d := strings.ReplaceAll(lower, "_", "-")
	if strings.HasPrefix(d, "x-govgate-") {
		return true
	}
	for _, set := range [][]string{hopByHop[:], clientForwarding[:], methodOverrides[:], singleRequestFields[:],
		{"host", "content-length", "content-type", "content-encoding", "authorization", "cookie"}} {
		for _, n := range set {
			if strings.EqualFold(n, d) {
				return true
			}
		}
	}
	return false
}
