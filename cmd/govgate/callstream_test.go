package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/wire"
)

// taxCreds are the tax bureau's (110000-shuiwu), which holds the exchange agreement.
func (d *callDemo) taxCreds() []string {
	return []string{"--ca", d.ca, "--cert", d.dir + "/shuiwu-sign-fullchain.pem," + d.dir + "/shuiwu-enc-fullchain.pem",
		"--key", d.dir + "/shuiwu-sign.key," + d.dir + "/shuiwu-enc.key"}
}

// heapPeak samples the process's Go heap in use until stop is called and returns the
// peak's growth over the heap in use when it started. The collector runs at GOGC=10
// meanwhile, so that what is sampled is what is held, not garbage awaiting a collection
// (at the default 100 the heap may grow by the live heap — here the demo's published list —
// between two collections).
func heapPeak() (stop func() uint64) {
	old := debug.SetGCPercent(10)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		debug.SetGCPercent(old)
		if p := peak.Load(); p > base {
			return p - base
		}
		return 0
	}
}

// TestCallStreamsWithBoundedMemory: the demo's exchange (~190 MB of CSV cut row by row)
// fetched with govgate call --output: the Go heap of the process — gateway, provider and
// call together — grows by far less than the dataset (a call that buffered the body grew
// by several times its size), the file is named only once its trailers verified, and
// %{size_download} is the bytes written.
func TestCallStreamsWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams ~190 MB")
	}
	d := startCallDemo(t)
	file := filepath.Join(t.TempDir(), "changes.csv")
	stop := heapPeak()
	code, out, errOut := runCmd(t, append([]string{"call", "--timeout", "10m", "--agreement", "AGR-2025-0219", "--purpose", "tax-registration",
		"--output", file, "--write-out", "%{size_download}", d.base + "/enterprise/bulk/changes.csv"}, d.taxCreds()...)...)
	grew := stop()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	fi, err := os.Stat(file)
	if err != nil || fmt.Sprint(fi.Size()) != out || fi.Size() < 100<<20 {
		t.Fatalf("file %v %v, size_download %q", fi, err, out)
	}
	if _, err := os.Stat(file + client.PartSuffix); err == nil {
		t.Error("the part file is left beside the verified file")
	}
	if !strings.Contains(errOut, "receipt: ") {
		t.Errorf("no receipt line: %s", errOut)
	}
	t.Logf("%d MB received; Go heap peak growth %d MiB", fi.Size()>>20, grew>>20)
	if grew > 32<<20 {
		t.Errorf("the heap grew by %d MiB for a %d MiB transfer: the body is not streamed", grew>>20, fi.Size()>>20)
	}
}

// rawAnswers is a server (not the gateway: a man in the middle, a broken proxy) that
// answers every request with the raw bytes of the case its path names, then closes.
func rawAnswers(t *testing.T, cases map[string]string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				line, _ := bufio.NewReader(conn).ReadString('\n')
				fields := strings.Fields(line)
				if len(fields) < 2 {
					return
				}
				conn.Write([]byte(cases[strings.TrimPrefix(fields[1], "/")]))
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestCallFailedTransferLeavesNoFile: every way a streamed answer can fail to prove itself
// complete exits 1, and with --output leaves no file under the name asked for (what
// arrived is FILE.part); an error status never touches the file. The valid answer passes,
// so the server is one govgate call accepts.
func TestCallFailedTransferLeavesNoFile(t *testing.T) {
	d := startCallDemo(t)
	const body = "uscc,name\r\n1,a\r\n2,b\r\n"
	sum := crypto.SM3([]byte(body))
	digest := fmt.Sprintf("%s%x", wire.DigestPrefix, sum[:])
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nTrailer: " +
		strings.Join([]string{wire.HeaderReceipt, wire.HeaderDigest, wire.HeaderRows, wire.HeaderBytes, wire.HeaderTransferError}, ", ") + "\r\n\r\n"
	chunk := fmt.Sprintf("%x\r\n%s\r\n", len(body), body)
	trailer := func(receipt, dig, bytes, errCode string) string {
		s := "0\r\n"
		if receipt != "" {
			s += wire.HeaderReceipt + ": " + receipt + "\r\n"
		}
		s += wire.HeaderDigest + ": " + dig + "\r\n" + wire.HeaderRows + ": 2\r\n" + wire.HeaderBytes + ": " + bytes + "\r\n"
		if errCode != "" {
			s += wire.HeaderTransferError + ": " + errCode + "\r\n"
		}
		return s + "\r\n"
	}
	n := fmt.Sprint(len(body))
	cases := map[string]string{
		"valid":            head + chunk + trailer("log=x; index=1; leaf=00", digest, n, ""),
		"no-receipt":       head + chunk + trailer("", digest, n, ""),
		"other-digest":     head + chunk + trailer("a", wire.DigestPrefix+"00", n, ""),
		"bytes-lie":        head + chunk + trailer("a", digest, "9999", ""),
		"error-trailer":    head + chunk + trailer("a", digest, n, "quota_exceeded"),
		"cut-by-gateway":   head + chunk + "0\r\n" + wire.HeaderTransferError + ": row_malformed\r\n",
		"closed-mid-chunk": head + "400\r\nuscc,name\r\n1,",
		"refused":          "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{\"error\":\"deny\"}\n",
	}
	base := rawAnswers(t, cases)
	for name := range cases {
		dir := t.TempDir()
		file := filepath.Join(dir, "data.csv")
		code, out, errOut := runCmd(t, append([]string{"call", "--output", file, base + "/" + name}, d.creds()...)...)
		_, fileErr := os.Stat(file)
		code2, _, _ := runCmd(t, append([]string{"call", base + "/" + name}, d.creds()...)...)
		if name == "valid" {
			if code != 0 || fileErr != nil || code2 != 0 {
				t.Errorf("valid: exit %d / %d, %v: %s", code, code2, fileErr, errOut)
			}
			continue
		}
		if code != 1 || code2 != 1 {
			t.Errorf("%s: exit %d with --output, %d to stdout; want 1: %s", name, code, code2, errOut)
		}
		if fileErr == nil {
			t.Errorf("%s: a file that looks complete was left: %s", name, file)
		}
		if name == "refused" {
			if _, err := os.Stat(file + client.PartSuffix); err == nil || !strings.Contains(errOut, "deny") || out != "" {
				t.Errorf("refused: the error body touched the file or did not reach stderr: %q %q", out, errOut)
			}
		} else if _, err := os.Stat(file + client.PartSuffix); err != nil {
			t.Errorf("%s: what arrived is not kept as the part: %v", name, err)
		}
	}
}

// publishedWhole is the demo's published list as the provider serves it.
func publishedWhole(t *testing.T) ([]byte, string) {
	p := demoPublishedList()
	return p.body, p.etag
}

// TestCallContinueAtThroughTheGateway: a download of the demo's published list through
// the gateway, interrupted (the call's context cancelled once the part holds 2 MB),
// exits 1 and leaves FILE.part; `--continue-at -` asks the gateway for the rest (a Range,
// its own audited exchange), appends it and names the file only once the whole file's SM3
// equals the whole digest the gateway states (the demo's registry states no Repr-Digest); continuing a whole file checks it whole (416). A part
// corrupted in its first bytes is refused: exit 1, no FILE.
func TestCallContinueAtThroughTheGateway(t *testing.T) {
	d := startCallDemo(t)
	whole, _ := publishedWhole(t)
	url := d.base + demoPublishedPath
	file := filepath.Join(t.TempDir(), "entities.csv")
	part := file + client.PartSuffix

	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"call", "--timeout", "5m", "--output", file, url}, d.creds()...), &out, &errOut)
	}()
	var code int
wait:
	for {
		select {
		case code = <-done:
			break wait
		case <-time.After(time.Millisecond):
			if fi, err := os.Stat(part); err == nil && fi.Size() >= 2<<20 {
				cancel()
			}
		}
	}
	cancel()
	fi, err := os.Stat(part)
	if code != 1 || err != nil || fi.Size() >= int64(len(whole)) {
		t.Fatalf("interrupted download: exit %d, part %v %v: %s", code, fi, err, errOut.String())
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("an interrupted download left a complete-looking file")
	}
	have := fi.Size()

	code, _, stderr := runCmd(t, append([]string{"call", "--timeout", "5m", "--continue-at", "-", "--output", file, url}, d.creds()...)...)
	got, _ := os.ReadFile(file)
	if code != 0 || !bytes.Equal(got, whole) {
		t.Fatalf("continued from %d: exit %d, %d of %d bytes: %s", have, code, len(got), len(whole), stderr)
	}
	if _, err := os.Stat(part); err == nil || !strings.Contains(stderr, "status: 206") || !strings.Contains(stderr, "receipt: ") {
		t.Errorf("the part is left, or the rest was not a receipted 206: %s", stderr)
	}
	code, _, stderr = runCmd(t, append([]string{"call", "--continue-at", "-", "--output", file, url}, d.creds()...)...)
	if code != 0 || !strings.Contains(stderr, "status: 416") {
		t.Errorf("continuing a whole file: exit %d: %s", code, stderr)
	}

	// A part whose first bytes are not the provider's: the rest is appended, the whole
	// does not match the provider's digest, and nothing is named FILE.
	os.Remove(file)
	bad := append([]byte(nil), whole[:have]...)
	bad[100] ^= 1
	os.WriteFile(part, bad, 0o644)
	code, _, stderr = runCmd(t, append([]string{"call", "--timeout", "5m", "--continue-at", "-", "--output", file, url}, d.creds()...)...)
	if code != 1 || !strings.Contains(stderr, "not complete") {
		t.Errorf("a corrupted part verified: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(file); err == nil {
		t.Error("a file that does not match the provider's digest was named as complete")
	}
	if fi, err := os.Stat(part); err != nil || fi.Size() != int64(len(whole)) {
		t.Errorf("the refused file is not kept as the part: %v %v", fi, err)
	}
}

// TestDemoPublishedList: the demo's publish route. The catalog lists the published list
// with the version, update frequency and size of what the provider serves; a conditional
// GET for the version held is a 304 that is recorded (its receipt verifies against a
// signed checkpoint), as is one by date; a stale tag gets the whole file.
func TestDemoPublishedList(t *testing.T) {
	d := startCallDemo(t)
	whole, etag := publishedWhole(t)
	code, out, errOut := runCmd(t, append([]string{"call", "-s", d.base + "/.well-known/govgate/catalog"}, d.creds()...)...)
	var catalog struct {
		Resources []struct {
			ID              string   `json:"id"`
			Modes           []string `json:"modes"`
			Version         string   `json:"version"`
			SizeBytes       int64    `json:"size_bytes"`
			UpdateFrequency string   `json:"update_frequency"`
			Routed          bool     `json:"routed"`
		} `json:"resources"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &catalog) != nil {
		t.Fatalf("catalog: exit %d %s %s", code, out, errOut)
	}
	found := false
	for _, r := range catalog.Resources {
		if r.ID != "legal_entity.published_list" {
			continue
		}
		found = true
		if r.Version != demoPublishedVersion || r.SizeBytes != int64(len(whole)) || r.UpdateFrequency != "daily" || !r.Routed || fmt.Sprint(r.Modes) != "[publish]" {
			t.Errorf("the catalog's entry does not describe what is published (%d bytes, %s): %+v", len(whole), demoPublishedVersion, r)
		}
	}
	if !found {
		t.Fatalf("the published list is not in the catalog: %s", out)
	}

	url := d.base + demoPublishedPath
	for _, h := range []string{"If-None-Match: " + etag, "If-Modified-Since: " + demoPublishedModified.Add(time.Hour).Format(http.TimeFormat)} {
		code, out, errOut = runCmd(t, append([]string{"call", "--include", "--header", h, "--verify-receipt", "--audit-keys", d.keys, url}, d.creds()...)...)
		if code != 0 || !strings.HasPrefix(out, "HTTP/1.1 304") || !strings.Contains(errOut, "status: 304") || !strings.Contains(errOut, "receipt verified") {
			t.Errorf("%s: exit %d\n%s\n%s", h, code, out, errOut)
		}
		if !strings.Contains(strings.ToLower(out), strings.ToLower("ETag: "+etag)) {
			t.Errorf("%s: the validator did not pass: %s", h, out)
		}
	}
	file := filepath.Join(t.TempDir(), "entities.csv")
	code, _, errOut = runCmd(t, append([]string{"call", "--header", `If-None-Match: "2026-11-30-stale"`, "--output", file, url}, d.creds()...)...)
	if got, _ := os.ReadFile(file); code != 0 || !bytes.Equal(got, whole) || !strings.Contains(errOut, "status: 200") {
		t.Errorf("a stale tag: exit %d, %d bytes: %s", code, len(got), errOut)
	}
	// The version held, asked for into the file that holds it: 304, the file untouched.
	code, _, errOut = runCmd(t, append([]string{"call", "--header", "If-None-Match: " + etag, "--output", file, url}, d.creds()...)...)
	if got, _ := os.ReadFile(file); code != 0 || !bytes.Equal(got, whole) || !strings.Contains(errOut, "status: 304") {
		t.Errorf("a current tag into the file: exit %d, %d bytes: %s", code, len(got), errOut)
	}
	if _, err := os.Stat(file + client.PartSuffix); err == nil {
		t.Error("a 304 left a part file")
	}
}

// TestCallContinueAtAfterTheFileChanged: a part left by an interrupted download of a
// version the provider no longer serves (its bytes and its ETag are another version's)
// is continued under If-Range: the provider, through the gateway, answers the whole
// current version, which replaces the part and verifies by its trailers. Before, the rest
// of the new version was appended to the old part, the whole never verified, and every
// later --continue-at refused it again.
func TestCallContinueAtAfterTheFileChanged(t *testing.T) {
	d := startCallDemo(t)
	whole, _ := publishedWhole(t)
	file := filepath.Join(t.TempDir(), "entities.csv")
	oldVersion := append([]byte(nil), whole[:2<<20]...)
	oldVersion[100] ^= 1
	if err := os.WriteFile(file+client.PartSuffix, oldVersion, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file+client.ValidatorSuffix, []byte(`"2025-01-old"`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, append([]string{"call", "--timeout", "5m", "--continue-at", "-", "--output", file, d.base + demoPublishedPath}, d.creds()...)...)
	got, _ := os.ReadFile(file)
	if code != 0 || !bytes.Equal(got, whole) || !strings.Contains(stderr, "status: 200") {
		t.Fatalf("continued a part of another version: exit %d, %d of %d bytes: %s", code, len(got), len(whole), stderr)
	}
	for _, left := range []string{file + client.PartSuffix, file + client.ValidatorSuffix} {
		if _, err := os.Stat(left); err == nil {
			t.Errorf("%s left after the download verified", left)
		}
	}
}
