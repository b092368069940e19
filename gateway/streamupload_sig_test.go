package gateway_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/identity"
	"github.com/govgate/govgate/gateway/record"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/crypto/tlcp"
	"github.com/govgate/govgate/wire"
)

// startUploads is sigPKI.start with an exchange route /upload (opaque: no release stage):
// a real TLCP gateway, real signatures, a real audit log.
func (p *sigPKI) startUploads(t *testing.T, provider, dir string) *sigGateway {
	t.Helper()
	cfg := testConfig(provider)
	cfg.Listeners[0].Transport = TransportTLCP
	cfg.TLCP = TLCP{SignCert: "s.pem", SignKey: "s.key", EncCert: "e.pem", EncKey: "e.key", ClientCA: "ca.pem"}
	cfg.Routes = append(cfg.Routes, Route{ID: "upload", PathPrefix: "/upload", Resource: "geographic.tiles", Mode: ModeExchange,
		Pool: "population", TargetZone: ZoneInternal, Timeout: 2 * time.Second, RequireSignature: true, TransferTimeout: time.Minute})
	cfg.ApplyDefaults()
	stage := &record.AuditStage{GatewayID: "gw-test"}
	l, err := audit.Open(audit.Options{Dir: dir, Origin: "govgate/gw-test", Signer: p.audit, CheckpointInterval: 100 * time.Millisecond, OnCommit: stage.ObserveCommit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	stage.Log = l
	auth := identity.NewPeerAuthenticatorWith(SignaturePolicy{})
	decisions := &countingDecider{}
	gw := startGateway(t, cfg, Options{Stages: Stages{
		Authenticate: auth,
		Transports:   map[Transport]ListenerProvider{TransportTLCP: &TLCPTransport{Identity: p.ids, Trust: p.trust}},
		Decide:       decisions,
		Audit:        stage,
	}})
	return &sigGateway{testGateway: gw, addr: gw.ListenerAddr("ext").String(), log: l, auth: auth, decisions: decisions}
}

// signedUpload is the head of a POST to target whose signature covers the digest of
// signedBody, with Content-Length n: the body sent after it is the caller's.
func (p *sigPKI) signedUpload(t *testing.T, host, target string, signedBody []byte, n int) string {
	t.Helper()
	pair := p.depts[dept]
	msg := &crypto.Message{Method: "POST", Scheme: "https", Authority: host, Path: target, Header: func(string) []string { return nil }}
	sum := crypto.SM3(signedBody)
	sh, err := crypto.SignRequestDigest(crypto.NewSigner(pair.SignKey), fmt.Sprintf("%x", pair.SignCert.SerialNumber), msg, crypto.ContentDigestOf(sum[:]), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/csv\r\nContent-Digest: %s\r\nSignature-Input: %s\r\nSignature: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		target, host, sh.ContentDigest, sh.SignatureInput, sh.Signature, n)
}

// sendUpload sends head and body over a new TLCP connection and reads the answer whole,
// trailers included.
func (p *sigPKI) sendUpload(t *testing.T, addr, head string, body []byte) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := tlcp.Dial(ctx, "tcp", addr, tlcp.ClientConfig{Identity: tlcpIdentity(p.depts[dept]), Trust: p.trust, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	go func() {
		io.WriteString(conn, head)
		conn.Write(body)
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

// TestUploadSignedDigestCheckedAtTheEnd: on a route that requires signatures, a streamed
// body is forwarded once the signature verifies over its declared Content-Digest, and its
// SM3 is compared with that digest at its end. A body that is not the one signed — same
// length, its last byte changed — is cut before its last byte reaches the provider (which
// sees a body that never ended), and the refusal is on the record with the digest of what
// arrived. The body that was signed passes, and its record and receipt name its digest.
// A streamed request without a signature, or signed without Content-Digest, is refused
// before anything is forwarded; a replay of the completed upload is refused.
func TestUploadSignedDigestCheckedAtTheEnd(t *testing.T) {
	up := startUploadProvider(t)
	pki := newSigPKI(t, dept)
	g := pki.startUploads(t, up.addr, t.TempDir())
	body := patterned(3 << 20)
	forged := append([]byte(nil), body...)
	forged[len(forged)-1] ^= 1

	// With Content-Length, and chunked: the upstream request is framed as the consumer's
	// was, and fasthttp flushes each chunk as it writes it, so only the held-back byte
	// keeps the last chunk from the provider.
	for _, chunked := range []bool{false, true} {
		head, sent := pki.signedUpload(t, g.addr, "/upload/changes.csv", body, len(forged)), forged
		if chunked {
			head = strings.Replace(head, fmt.Sprintf("Content-Length: %d", len(forged)), "Transfer-Encoding: chunked", 1)
			sent = []byte(fmt.Sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", len(forged)-10, forged[:len(forged)-10], 10, forged[len(forged)-10:]))
		}
		resp, b := pki.sendUpload(t, g.addr, head, sent)
		if resp.StatusCode != 400 || errorCode(t, b) != crypto.SigDigestMismatch {
			t.Errorf("forged body, chunked=%v: %d %s", chunked, resp.StatusCode, b)
		}
		s := up.seen(t)
		if s.err == nil || s.n >= int64(len(forged)) {
			t.Errorf("forged body, chunked=%v: the provider read %d of %d bytes, err %v: it saw the whole body", chunked, s.n, len(forged), s.err)
		}
		rec := recordOf(t, g.log, resp.Header.Get(HeaderReceipt))
		if rec.Error != crypto.SigDigestMismatch || rec.Transfer == nil || rec.Transfer.Outcome != TransferCut ||
			rec.Transfer.RequestDigest != sm3Hex(forged) || rec.Bytes.Request != int64(len(forged)) || rec.Signature == nil {
			t.Errorf("forged body, chunked=%v: recorded %+v transfer %+v", chunked, rec, rec.Transfer)
		}
	}

	head := pki.signedUpload(t, g.addr, "/upload/changes.csv", body, len(body))
	resp, b := pki.sendUpload(t, g.addr, head, body)
	if resp.StatusCode != 200 || string(b) != fmt.Sprintf("stored %d", len(body)) {
		t.Fatalf("signed body: %d %s", resp.StatusCode, b)
	}
	if s := up.seen(t); s.err != nil || s.n != int64(len(body)) || s.digest != sm3Hex(body) {
		t.Errorf("signed body: the provider read %d bytes, err %v", s.n, s.err)
	}
	rec := recordOf(t, g.log, resp.Trailer.Get(wire.HeaderReceipt))
	if rec.Error != "" || rec.Transfer == nil || rec.Transfer.Outcome != TransferCompleted ||
		rec.Transfer.RequestDigest != sm3Hex(body) || rec.Bytes.Request != int64(len(body)) {
		t.Errorf("signed body: recorded %+v transfer %+v", rec, rec.Transfer)
	}
	sum := crypto.SM3(body)
	if rec.ContentDigest != crypto.ContentDigestOf(sum[:]) || hex.EncodeToString(sum[:]) != rec.Transfer.RequestDigest {
		t.Errorf("signed body: recorded Content-Digest %q", rec.ContentDigest)
	}

	resp, b = pki.sendUpload(t, g.addr, head, body)
	if resp.StatusCode != 401 || errorCode(t, b) != crypto.SigReplayed {
		t.Errorf("replayed upload: %d %s", resp.StatusCode, b)
	}

	unsigned := fmt.Sprintf("POST /upload/changes.csv HTTP/1.1\r\nHost: %s\r\nContent-Type: text/csv\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", g.addr, len(body))
	resp, b = pki.sendUpload(t, g.addr, unsigned, body)
	if resp.StatusCode != 401 || errorCode(t, b) != "signature_required" {
		t.Errorf("unsigned upload: %d %s", resp.StatusCode, b)
	}
	noDigest := strings.Replace(head, "Content-Digest: ", "X-Was-Content-Digest: ", 1)
	resp, b = pki.sendUpload(t, g.addr, noDigest, body)
	if resp.StatusCode != 401 {
		t.Errorf("upload signed without its Content-Digest: %d %s", resp.StatusCode, b)
	}
	up.none(t)
}

// TestUploadClientStreamsAFile: client.Request.BodyFile (govgate call --data-binary @FILE,
// -T FILE) sends a file through TLCP to an exchange route that requires signatures, signed
// over the file's digest and streamed: the whole process's heap (client, gateway,
// provider) grows by a fraction of the file. A file changed after its digest was signed
// is refused at its end, and the provider never sees it whole.
func TestUploadClientStreamsAFile(t *testing.T) {
	up := startUploadProvider(t)
	pki := newSigPKI(t, dept)
	gw := pki.startUploads(t, up.addr, t.TempDir())
	c, err := client.New(client.Config{Identity: tlcpIdentity(pki.depts[dept]), Trust: pki.trust, ServerName: "localhost", Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	path := filepath.Join(t.TempDir(), "changes.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20
	block := patterned(1 << 20)
	for i := 0; i < size/len(block); i++ {
		f.Write(block)
	}
	f.Close()
	want := fileSM3(t, path)

	req := client.Request{Method: "POST", URL: "https://" + gw.addr + "/upload/changes.csv", BodyFile: path, Header: map[string]string{"Content-Type": "text/csv"}}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	stop := heapPeak()
	p, err := c.Prepare(req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Send(context.Background(), p)
	p.Release()
	peak, _ := stop()
	if err != nil || resp.Status != 200 || string(resp.Body) != fmt.Sprintf("stored %d", size) {
		t.Fatalf("%v %+v", err, resp)
	}
	if s := up.seen(t); s.err != nil || s.n != size || s.digest != want {
		t.Errorf("the provider read %d bytes, err %v", s.n, s.err)
	}
	growth := int64(peak) - int64(base)
	t.Logf("%d MiB file uploaded by the client: heap peak growth %.1f MiB", size>>20, float64(growth)/(1<<20))
	if bound := int64(32 << 20); growth > bound {
		t.Errorf("heap grew by %d bytes sending %d: more than %d", growth, size, bound)
	}

	p, err = c.Prepare(req)
	if err != nil {
		t.Fatal(err)
	}
	g, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	g.WriteAt([]byte("X"), size-1) // after the digest was signed, before it is sent
	g.Close()
	resp, err = c.Send(context.Background(), p)
	p.Release()
	if err == nil && resp.Status == 200 {
		t.Errorf("a file changed after its digest was signed was delivered: %+v", resp)
	}
	if !errors.Is(err, client.ErrBodyChanged) {
		t.Errorf("a file changed after its digest was signed: the client says %v, not that the file changed", err)
	}
	if s := up.seen(t); s.err == nil || s.n >= size {
		t.Errorf("changed file: the provider read %d bytes, err %v", s.n, s.err)
	}
}

func fileSM3(t *testing.T, path string) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := crypto.NewSM3()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}

// TestUploadSignedReview: a cut upload keeps its nonce (its head replayed with the body
// that was signed is refused as a replay, and reaches no provider); a JSON body on the
// signed exchange route is buffered and checked against its Content-Digest before it is
// forwarded; a Content-Digest naming several algorithms, or listed twice, is refused
// before forwarding.
func TestUploadSignedReview(t *testing.T) {
	up := startUploadProvider(t)
	pki := newSigPKI(t, dept)
	g := pki.startUploads(t, up.addr, t.TempDir())
	body := patterned(256 << 10)
	forged := append([]byte(nil), body...)
	forged[len(forged)-1] ^= 1

	head := pki.signedUpload(t, g.addr, "/upload/changes.csv", body, len(body))
	if resp, b := pki.sendUpload(t, g.addr, head, forged); resp.StatusCode != 400 || errorCode(t, b) != crypto.SigDigestMismatch {
		t.Errorf("forged body: %d %s", resp.StatusCode, b)
	}
	if s := up.seen(t); s.err == nil {
		t.Errorf("forged body: the provider read %d bytes and a body that ended", s.n)
	}
	if resp, b := pki.sendUpload(t, g.addr, head, body); resp.StatusCode != 401 || errorCode(t, b) != crypto.SigReplayed {
		t.Errorf("the cut upload's head replayed with the signed body: %d %s", resp.StatusCode, b)
	}
	up.none(t)

	criteria := []byte(`{"region":"110108","fields":["uscc","name"]}`)
	jsonHead := func(signed []byte, n int) string {
		return strings.Replace(pki.signedUpload(t, g.addr, "/upload/search", signed, n), "Content-Type: text/csv", "Content-Type: application/json", 1)
	}
	resp, b := pki.sendUpload(t, g.addr, jsonHead(criteria, len(criteria)), criteria)
	if resp.StatusCode != 200 || string(b) != fmt.Sprintf("stored %d", len(criteria)) {
		t.Errorf("signed JSON: %d %s", resp.StatusCode, b)
	}
	if s := up.seen(t); s.err != nil || s.digest != sm3Hex(criteria) {
		t.Errorf("signed JSON: the provider read %d bytes, err %v", s.n, s.err)
	}
	other := []byte(`{"region":"110101","fields":["uscc","name"]}`)
	resp, b = pki.sendUpload(t, g.addr, jsonHead(criteria, len(other)), other)
	if resp.StatusCode != 401 || errorCode(t, b) != crypto.SigDigestMismatch {
		t.Errorf("JSON not the one signed: %d %s", resp.StatusCode, b)
	}
	up.none(t)

	// Several algorithms, though the signature covers them all: the profile allows one
	// member, and the upload is refused before anything is forwarded.
	pair := pki.depts[dept]
	sum := crypto.SM3(body)
	several := "sha-256=:" + strings.Repeat("A", 43) + "=:, " + crypto.ContentDigestOf(sum[:])
	msg := &crypto.Message{Method: "POST", Scheme: "https", Authority: g.addr, Path: "/upload/changes.csv", Header: func(string) []string { return nil }}
	sh, err := crypto.SignRequestDigest(crypto.NewSigner(pair.SignKey), fmt.Sprintf("%x", pair.SignCert.SerialNumber), msg, several, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h := fmt.Sprintf("POST /upload/changes.csv HTTP/1.1\r\nHost: %s\r\nContent-Type: text/csv\r\nContent-Digest: %s\r\nSignature-Input: %s\r\nSignature: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		g.addr, sh.ContentDigest, sh.SignatureInput, sh.Signature, len(body))
	if resp, b := pki.sendUpload(t, g.addr, h, body); resp.StatusCode != 400 || errorCode(t, b) != "signature_field_repeated" {
		t.Errorf("Content-Digest with several algorithms: %d %s", resp.StatusCode, b)
	}
	up.none(t)

	head = pki.signedUpload(t, g.addr, "/upload/changes.csv", body, len(body))
	twice := strings.Replace(head, "Content-Digest: ", "Content-Digest: sm3=:"+strings.Repeat("A", 43)+"=:\r\nContent-Digest: ", 1)
	if resp, b := pki.sendUpload(t, g.addr, twice, body); resp.StatusCode != 401 && resp.StatusCode != 400 {
		t.Errorf("Content-Digest listed twice: %d %s", resp.StatusCode, b)
	}
	up.none(t)
}
