package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/wire"
)

// nginxBench is a bench with a real upstream on 127.0.0.1 and the stock OPA server built,
// for nginx rows; it skips when nginx is not installed (CI does not install it).
func nginxBench(t *testing.T) *bench {
	t.Helper()
	if _, err := exec.LookPath("nginx"); err != nil {
		t.Skip("nginx is not installed (apt-get install nginx-light): the nginx rows are not checked end to end")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) { c.SetBodyString(record) }}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return &bench{dir: t.TempDir(), upstream: ln.Addr().String(), opaBin: stockOPA(t)}
}

func startNginx(t *testing.T, b *bench, row nginxRow) (procs []*proc, url string) {
	t.Helper()
	procs, url, err := b.nginx(row)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.stop()
		}
	})
	return procs, url
}

// benchRequest is the bench's request, with header edits.
func benchRequest(t *testing.T, url string, edit map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(benchDeptHeader, "110000-shuiwu")
	req.Header.Set(wire.HeaderPurpose, "tax-registration")
	req.Header.Set(wire.HeaderAgreement, "AGR-2025-0219")
	for k, v := range edit {
		req.Header.Set(k, v)
	}
	return req
}

func statusOf(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestNginxAuthRequestToStockOPA: rows (d) and (d2) pass the bench request to the upstream
// and refuse with 403 what govgate's policy refuses — including a header that tries to
// write its own input fields into the JSON body — and fail closed when OPA is gone.
func TestNginxAuthRequestToStockOPA(t *testing.T) {
	b := nginxBench(t)
	for _, row := range []nginxRow{{auth: true}, {auth: true, tls: true}} {
		t.Run(fmt.Sprintf("tls=%v", row.tls), func(t *testing.T) {
			procs, url := startNginx(t, b, row)
			c := &http.Client{Timeout: 10 * time.Second}
			if row.tls {
				c.Transport = &http.Transport{TLSClientConfig: b.tls.client}
			}
			if status, body := statusOf(t, c, benchRequest(t, url, nil)); status != http.StatusOK || body != record {
				t.Fatalf("the bench request: %d %q", status, body)
			}
			for name, edit := range map[string]map[string]string{
				"an agreement not held": {wire.HeaderAgreement: "AGR-2025-9999"},
				"an unknown department": {benchDeptHeader: "110000-nobody"},
				// Unescaped, the later "dept" would win and name a department with an agreement.
				"a header writing JSON": {benchDeptHeader: `110000-nobody","dept":"110000-shuiwu`},
				"a purpose not agreed":  {wire.HeaderPurpose: "marketing"},
			} {
				if status, body := statusOf(t, c, benchRequest(t, url, edit)); status != http.StatusForbidden {
					t.Errorf("%s: %d %q, want 403", name, status, body)
				}
			}
			procs[0].stop() // OPA
			if status, _ := statusOf(t, c, benchRequest(t, url, nil)); status != http.StatusInternalServerError {
				t.Errorf("OPA stopped: %d, want 500 (closed)", status)
			}
		})
	}
}

// TestNginxTLSRowSpeaksOnlyItsSuite: row (d2) negotiates TLS 1.2 with
// ECDHE-ECDSA-AES128-GCM-SHA256, keeps the connection alive across requests, and refuses
// a client that offers neither that version nor that suite.
func TestNginxTLSRowSpeaksOnlyItsSuite(t *testing.T) {
	b := nginxBench(t)
	_, url := startNginx(t, b, nginxRow{auth: true, tls: true})
	addr := strings.TrimPrefix(strings.SplitN(url, "/", 4)[2], "https://")
	if err := checkTLS(addr, b.tls.client); err != nil {
		t.Fatal(err)
	}
	// Three requests on one connection: keep-alive from the client to nginx.
	conn, err := tls.Dial("tcp", addr, b.tls.client)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for i := range 3 {
		req := benchRequest(t, url, nil)
		if err := req.Write(conn); err != nil {
			t.Fatalf("request %d on the kept connection: %v", i, err)
		}
		resp, err := http.ReadResponse(r, req)
		if err != nil {
			t.Fatalf("response %d on the kept connection: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("request %d: status %d, close %v", i, resp.StatusCode, resp.Close)
		}
	}
	refused := map[string]*tls.Config{
		"TLS 1.3 only": {RootCAs: b.tls.client.RootCAs, ServerName: "localhost", MinVersion: tls.VersionTLS13},
		"RSA suites only": {RootCAs: b.tls.client.RootCAs, ServerName: "localhost", MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}},
		"AES-256 only": {RootCAs: b.tls.client.RootCAs, ServerName: "localhost", MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}},
	}
	for name, cfg := range refused {
		if c, err := tls.Dial("tcp", addr, cfg); err == nil {
			st := c.ConnectionState()
			c.Close()
			t.Errorf("%s: handshake succeeded with %s %s", name, tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
		}
	}
	// A client that does not trust the bench's pair is refused by its own verification.
	if c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "localhost"}); err == nil {
		c.Close()
		t.Error("a client without the bench's certificate among its roots completed the handshake")
	}
}

// TestNginxSendsTheInputGovgateBuilds: the body nginx's auth_request sends is the input
// document TestStockOPAAgreesWithGovgate checks, with the request's own values — the
// client's path, not the subrequest's — and a JSON-breaking header blanked, not passed.
func TestNginxSendsTheInputGovgateBuilds(t *testing.T) {
	b := nginxBench(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bodies := make(chan []byte, 8)
	recorder := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) {
		if string(c.Method()) != "POST" || string(c.Path()) != "/" || string(c.Request.Header.ContentType()) != "application/json" {
			c.SetStatusCode(fasthttp.StatusBadRequest)
		}
		bodies <- append([]byte(nil), c.PostBody()...)
	}}
	go recorder.Serve(ln)
	t.Cleanup(func() { recorder.Shutdown() })
	c := nginxConf{dir: b.dir, listen: freeAddr(), upstream: b.upstream, opa: ln.Addr().String()}
	path := filepath.Join(b.dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(nginxConfig(c)), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := b.run([]string{"nginx", "-c", path, "-p", b.dir}, c.listen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	url := "http://" + c.listen + "/enterprise/v1/companies?uscc=91110108MA01A2B3C4&x=%22"
	client := &http.Client{Timeout: 10 * time.Second}
	for name, tc := range map[string]struct {
		edit map[string]string
		want func(*requestValues)
	}{
		"the bench request": {nil, func(*requestValues) {}},
		"a JSON-breaking agreement": {map[string]string{wire.HeaderAgreement: `AGR-X","agreement":"AGR-2025-0219`},
			func(v *requestValues) { v.Agreement = "" }},
	} {
		if status, body := statusOf(t, client, benchRequest(t, url, tc.edit)); status != http.StatusOK {
			t.Fatalf("%s: %d %q", name, status, body)
		}
		got := <-bodies
		var in authzInput
		if err := json.Unmarshal(got, &in); err != nil {
			t.Fatalf("%s: nginx sent %q: %v", name, got, err)
		}
		if _, err := time.Parse(time.RFC3339, in.Time); err != nil {
			t.Fatalf("%s: time %q is not RFC 3339", name, in.Time)
		}
		want := benchValues()
		want.Time = in.Time
		tc.want(&want)
		if string(got) != inputJSON(want) {
			t.Errorf("%s: nginx sent\n%s\nwant\n%s", name, got, inputJSON(want))
		}
	}
}
