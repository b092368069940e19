package client_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto"
)

// deliver plays one answer into d as SendTo would: Open for the head, the body, Finish.
func deliver(d *client.Download, resp *client.Response, body []byte, sendErr error) error {
	w, err := d.Open(resp)
	if err != nil {
		return d.Finish(resp, err)
	}
	if _, err := w.Write(body); err != nil {
		return d.Finish(resp, err)
	}
	return d.Finish(resp, sendErr)
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// TestDownloadResumed: a download interrupted after some bytes continues with a 206 from
// where the .part ends; the whole file is then checked against the provider's
// Repr-Digest and only then named FILE. A file that does not match it, a part that starts
// elsewhere, an answer that states no whole digest, or an answer that is not the file
// leave no FILE: what there is stays FILE.part.
func TestDownloadResumed(t *testing.T) {
	whole := make([]byte, 200_000)
	rand.Read(whole)
	sum := crypto.SM3(whole)
	repr := "sm3=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	partial := func(from int, digest string) *client.Response {
		return &client.Response{Status: 206, Header: map[string][]string{
			"Content-Range": {fmt.Sprintf("bytes %d-%d/%d", from, len(whole)-1, len(whole))}, "Repr-Digest": {digest}}}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "archive.zip")
	part := path + client.PartSuffix
	start := func(content []byte) *client.Download { return resumeFrom(t, path, content) }
	d := start(whole[:70_000])
	if d.Offset() != 70_000 || client.RangeFrom(d.Offset()) != "bytes=70000-" {
		t.Fatalf("offset %d", d.Offset())
	}
	if err := deliver(d, partial(70_000, repr), whole[70_000:], nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(whole) || exists(part) {
		t.Fatal("the resumed file is not the whole, or its part is left")
	}

	refused := func(name string, err error, target error) {
		t.Helper()
		if err == nil || target != nil && !errors.Is(err, target) {
			t.Errorf("%s: %v", name, err)
		}
		if exists(path) || !exists(part) {
			t.Errorf("%s: FILE exists %v, FILE.part exists %v", name, exists(path), exists(part))
		}
	}
	d = start(whole[:70_000])
	refused("a part starting before the file's end", deliver(d, partial(60_000, repr), whole[60_000:], nil), nil)
	if fi, _ := os.Stat(part); fi.Size() != 70_000 {
		t.Errorf("a misplaced part was appended: %d", fi.Size())
	}
	d = start(append([]byte("X"), whole[1:70_000]...))
	refused("a corrupted first part", deliver(d, partial(70_000, repr), whole[70_000:], nil), client.ErrTransferIncomplete)
	d = start(whole[:70_000])
	refused("no whole digest", deliver(d, partial(70_000, ""), whole[70_000:], nil), client.ErrResumeUnverified)
	d = start(whole[:70_000])
	refused("cut again", deliver(d, partial(70_000, repr), whole[70_000:90_000], client.ErrTransferIncomplete), client.ErrTransferIncomplete)
	d = start(whole[:70_000])
	refused("an answer that is not the file", deliver(d, &client.Response{Status: 500}, []byte(`{"error":"x"}`), nil), nil)

	// A whole FILE fetched by another tool: asked past its end (416), it is checked whole;
	// one that does not verify is renamed FILE.part.
	os.Remove(part)
	os.WriteFile(path, whole, 0o644)
	d, _ = client.NewDownload(path, true)
	repr416 := &client.Response{Status: 416, Header: map[string][]string{"Repr-Digest": {repr}}}
	if err := deliver(d, repr416, nil, nil); err != nil || !exists(path) {
		t.Errorf("a whole file did not verify: %v", err)
	}
	whole[5] ^= 1
	os.WriteFile(path, whole, 0o644)
	d, _ = client.NewDownload(path, true)
	refused("a whole file that does not verify", deliver(d, repr416, nil, nil), client.ErrTransferIncomplete)

	// A fresh download that fails leaves its part; one that succeeds leaves only FILE.
	os.Remove(part)
	d, _ = client.NewDownload(path, false)
	refused("a fresh download cut", deliver(d, &client.Response{Status: 200}, whole[:10], client.ErrTransferIncomplete), client.ErrTransferIncomplete)
	d, _ = client.NewDownload(path, false)
	if err := deliver(d, &client.Response{Status: 200}, whole, nil); err != nil || !exists(path) || exists(part) {
		t.Errorf("a fresh download: %v", err)
	}
	if d, err := client.NewDownload(filepath.Join(dir, "none"), true); err != nil || d.Offset() != 0 {
		t.Errorf("no file: %v", err)
	}
}

// TestDownloadResumedGatewayWhole: with no Repr-Digest from the provider, a resumed file
// is checked against the whole digest the gateway states (X-Govgate-Whole-Digest, in
// Response.Transfer.Whole). A file that does not match it, and an answer whose provider
// and gateway digests disagree, stay FILE.part; with neither stated it still fails closed.
func TestDownloadResumedGatewayWhole(t *testing.T) {
	whole := make([]byte, 150_000)
	rand.Read(whole)
	sum := crypto.SM3(whole)
	other := crypto.SM3([]byte("another file"))
	partial := func(gatewayWhole, repr string) *client.Response {
		r := &client.Response{Status: 206, Header: map[string][]string{
			"Content-Range": {fmt.Sprintf("bytes %d-%d/%d", 50_000, len(whole)-1, len(whole))}},
			Transfer: &client.Transfer{Whole: gatewayWhole}}
		if repr != "" {
			r.Header["Repr-Digest"] = []string{repr}
		}
		return r
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "entities.csv")
	part := path + client.PartSuffix
	start := func(content []byte) *client.Download { return resumeFrom(t, path, content) }
	if err := deliver(start(whole[:50_000]), partial(fmt.Sprintf("%x", sum), ""), whole[50_000:], nil); err != nil || !exists(path) || exists(part) {
		t.Fatalf("verified by the gateway's whole digest: %v", err)
	}
	for name, resp := range map[string]*client.Response{
		"another whole":        partial(fmt.Sprintf("%x", other), ""),
		"provider disagrees":   partial(fmt.Sprintf("%x", sum), "sm3=:"+base64.StdEncoding.EncodeToString(other[:])+":"),
		"neither states one":   partial("", ""),
		"a malformed Repr-Dig": partial(fmt.Sprintf("%x", sum), "sm3=:!!:"),
	} {
		err := deliver(start(whole[:50_000]), resp, whole[50_000:], nil)
		if err == nil || exists(path) || !exists(part) {
			t.Errorf("%s: %v, FILE %v", name, err, exists(path))
		}
		if name == "neither states one" && !errors.Is(err, client.ErrResumeUnverified) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestDownloadWholeDisagreesWithBody: a fresh download (no resume) whose gateway whole
// digest is not the SM3 of the body its own trailers verified is an answer that was
// tampered with (on a 200 the gateway's whole digest is the body's): it is not named FILE.
func TestDownloadWholeDisagreesWithBody(t *testing.T) {
	body := []byte("uscc,name\r\n91110108MA01A2B3C4,北京数联\r\n")
	sum := crypto.SM3(body)
	other := crypto.SM3([]byte("another file"))
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		whole string
		ok    bool
	}{
		"agrees":    {fmt.Sprintf("%x", sum), true},
		"none":      {"", true},
		"disagrees": {fmt.Sprintf("%x", other), false},
	} {
		path := filepath.Join(dir, name+".csv")
		d, err := client.NewDownload(path, false)
		if err != nil {
			t.Fatal(err)
		}
		resp := &client.Response{Status: 200, Header: map[string][]string{}, Transfer: &client.Transfer{Digest: fmt.Sprintf("%x", sum), Whole: tc.whole}}
		err = deliver(d, resp, body, nil)
		if tc.ok != (err == nil) || tc.ok != exists(path) {
			t.Errorf("%s: %v, FILE %v", name, err, exists(path))
		}
	}
}

// resumeFrom is a download to be continued from FILE.part holding content (FILE itself
// absent).
func resumeFrom(t *testing.T, path string, content []byte) *client.Download {
	t.Helper()
	os.Remove(path)
	if err := os.WriteFile(path+client.PartSuffix, content, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := client.NewDownload(path, true)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDownloadResumedUnderIfRange: a download remembers the version its part is of (the
// answer's strong ETag, beside the part) and continues under If-Range with it. A provider
// whose file changed since answers the whole new version, which replaces the part
// instead of being appended to the old one; a provider that ignores If-Range and sends
// the rest of another version is refused with the part untouched; a validator file that
// is not a strong ETag (weak, or a header injection) is never sent.
func TestDownloadResumedUnderIfRange(t *testing.T) {
	old, next := make([]byte, 100_000), make([]byte, 120_000)
	rand.Read(old)
	rand.Read(next)
	answer := func(status int, tag string, body []byte, from int) *client.Response {
		sum := crypto.SM3(body)
		h := map[string][]string{"ETag": {tag}, "Repr-Digest": {"sm3=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"}}
		if status == 206 {
			h["Content-Range"] = []string{fmt.Sprintf("bytes %d-%d/%d", from, len(body)-1, len(body))}
		}
		return &client.Response{Status: status, Header: h}
	}
	path := filepath.Join(t.TempDir(), "registry.csv")
	part, validator := path+client.PartSuffix, path+client.ValidatorSuffix

	// Interrupted after 40,000 bytes of version 1.
	d, err := client.NewDownload(path, false)
	if err != nil {
		t.Fatal(err)
	}
	w, err := d.Open(answer(200, `"v1"`, old, 0))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(old[:40_000])
	if err := d.Finish(nil, client.ErrTransferIncomplete); err == nil {
		t.Fatal("an interrupted download finished")
	}
	if v, _ := os.ReadFile(validator); string(v) != "\"v1\"\n" {
		t.Fatalf("the part's version is not kept: %q", v)
	}

	// Continued: Range under If-Range "v1".
	d, err = client.NewDownload(path, true)
	if err != nil {
		t.Fatal(err)
	}
	req := &client.Request{}
	d.Ask(req)
	if req.Header["Range"] != "bytes=40000-" || req.Header["If-Range"] != `"v1"` {
		t.Fatalf("continued with %v", req.Header)
	}
	// A provider that ignores If-Range: the rest of version 2 is refused, the part kept.
	if err := deliver(d, answer(206, `"v2"`, next, 40_000), next[40_000:], nil); err == nil || exists(path) {
		t.Fatalf("the rest of another version was accepted: %v", err)
	}
	if got, _ := os.ReadFile(part); string(got) != string(old[:40_000]) {
		t.Fatal("the refused answer touched the part")
	}
	// The file changed: the whole of version 2 replaces the part.
	d, _ = client.NewDownload(path, true)
	if err := deliver(d, answer(200, `"v2"`, next, 0), next, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(next) || exists(part) || exists(validator) {
		t.Fatalf("after the new version: file %d bytes, part left %v, validator left %v", len(got), exists(part), exists(validator))
	}

	// What the validator file holds is sent only if it is a strong ETag.
	for _, bad := range []string{`W/"v1"`, "\"v1\"\r\nX-Injected: 1", `v1`, `""x""`} {
		os.WriteFile(part, old[:10], 0o644)
		os.WriteFile(validator, []byte(bad), 0o644)
		d, err := client.NewDownload(path+"", true)
		if err != nil {
			t.Fatal(err)
		}
		req := &client.Request{}
		d.Ask(req)
		if _, sent := req.Header["If-Range"]; sent {
			t.Errorf("validator file %q sent as If-Range %q", bad, req.Header["If-Range"])
		}
	}
}

// TestDownloadStaleValidatorNotKept: a validator file left beside no part (the part deleted
// by hand after it failed to verify, as the message says to) named the version of bytes
// that were gone. Continuing a FILE that another tool fetched appends to it and renames
// it FILE.part; the stale validator then named that part's version, and the next
// continuation asked If-Range with it. A part continued without a known version keeps
// none.
func TestDownloadStaleValidatorNotKept(t *testing.T) {
	blob := make([]byte, 30_000)
	rand.Read(blob)
	path := filepath.Join(t.TempDir(), "registry.csv")
	os.WriteFile(path+client.ValidatorSuffix, []byte("\"v1\"\n"), 0o644) // the part it named is gone
	os.WriteFile(path, blob[:10_000], 0o644)                             // another tool's download
	d, err := client.NewDownload(path, true)
	if err != nil {
		t.Fatal(err)
	}
	req := &client.Request{}
	d.Ask(req)
	if _, sent := req.Header["If-Range"]; sent || req.Header["Range"] != "bytes=10000-" {
		t.Fatalf("continued with %v", req.Header)
	}
	resp := &client.Response{Status: 206, Header: map[string][]string{"ETag": {`"v2"`}, "Content-Range": {"bytes 10000-29999/30000"}}}
	w, err := d.Open(resp)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(blob[10_000:20_000])
	if err := d.Finish(resp, client.ErrTransferIncomplete); err == nil {
		t.Fatal("an interrupted download finished")
	}
	if !exists(path+client.PartSuffix) || exists(path+client.ValidatorSuffix) {
		v, _ := os.ReadFile(path + client.ValidatorSuffix)
		t.Errorf("part %v; a validator %q names a part whose first bytes are of no known version", exists(path+client.PartSuffix), v)
	}
}

// TestDownloadValidatorNotWrittenThroughASymlink: a symbolic link planted at
// FILE.part.etag (an output directory others can write to, or a careless copy) must not
// have the provider's ETag written through it over the file it points to: the validator
// is put in place by rename, which replaces the link, never follows it. Before the fix
// os.WriteFile truncated the link's target and wrote the tag into it.
func TestDownloadValidatorNotWrittenThroughASymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim.conf")
	if err := os.WriteFile(victim, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "registry.csv")
	if err := os.Symlink(victim, path+client.ValidatorSuffix); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	d, err := client.NewDownload(path, false)
	if err != nil {
		t.Fatal(err)
	}
	resp := &client.Response{Status: 200, Header: map[string][]string{"ETag": {`"v1"`}}}
	w, err := d.Open(resp)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("uscc,name\n"))
	if err := d.Finish(resp, client.ErrTransferIncomplete); err == nil {
		t.Fatal("an interrupted download finished")
	}
	if got, _ := os.ReadFile(victim); string(got) != "keep me\n" {
		t.Errorf("the validator was written through the link: the target now holds %q", got)
	}
	fi, err := os.Lstat(path + client.ValidatorSuffix)
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("the validator is not a file of its own: %v %v", fi, err)
	}
	// And it is the one the continuation asks with.
	d, err = client.NewDownload(path, true)
	if err != nil {
		t.Fatal(err)
	}
	req := &client.Request{}
	d.Ask(req)
	if req.Header["If-Range"] != `"v1"` {
		t.Errorf("continued with %v", req.Header)
	}
}

// TestDownloadTwoAtOnceToOneFile: a careless operator runs two `govgate call --output
// FILE` at once (two cron jobs). The second must be refused without touching what the
// first is writing: before the lock it truncated the part under the first, whose later
// bytes then followed a hole of zeros, and the first, its trailers checking what it had
// sent, not what the file held, named that file FILE as verified. A continuation is
// refused the same way, and once the first is done the file is free again.
func TestDownloadTwoAtOnceToOneFile(t *testing.T) {
	blob := make([]byte, 50_000)
	rand.Read(blob)
	path := filepath.Join(t.TempDir(), "registry.csv")
	resp := &client.Response{Status: 200, Header: map[string][]string{"ETag": {`"v1"`}}}

	first, err := client.NewDownload(path, false)
	if err != nil {
		t.Fatal(err)
	}
	w, err := first.Open(resp)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(blob[:20_000])
	second, err := client.NewDownload(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if w2, err := second.Open(resp); err == nil {
		w2.Write(blob[:10_000])
		second.Finish(resp, nil)
		t.Error("a second download to the same file was let in")
	} else if ferr := second.Finish(resp, err); ferr == nil {
		t.Error("the refused download finished")
	}
	resumed, err := client.NewDownload(path, true)
	if err != nil {
		t.Fatal(err)
	}
	part206 := &client.Response{Status: 206, Header: map[string][]string{"ETag": {`"v1"`}, "Content-Range": {fmt.Sprintf("bytes %d-49999/50000", resumed.Offset())}}}
	if _, err := resumed.Open(part206); err == nil {
		t.Error("a continuation of a part being written was let in")
	}
	resumed.Finish(part206, errors.New("refused"))
	w.Write(blob[20_000:])
	if err := first.Finish(resp, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(blob) {
		t.Fatalf("the verified file is not the body that arrived (%d bytes)", len(got))
	}
	// Free again.
	again, _ := client.NewDownload(path, false)
	if err := deliver(again, resp, blob, nil); err != nil {
		t.Errorf("a download after the first finished: %v", err)
	}
}

// TestDownloadWholeAnswerWithoutETagDropsTheValidator: a continuation answered with the
// whole file and no strong ETag (a provider that changed its file and its server) replaces
// the part; if that transfer is cut, the validator of the old version must not stay, or
// the next continuation would ask If-Range with it for bytes of another version, and a
// provider back on that version would answer the rest of it.
func TestDownloadWholeAnswerWithoutETagDropsTheValidator(t *testing.T) {
	blob := make([]byte, 30_000)
	rand.Read(blob)
	path := filepath.Join(t.TempDir(), "registry.csv")
	os.WriteFile(path+client.ValidatorSuffix, []byte("\"v1\"\n"), 0o644)
	d := resumeFrom(t, path, blob[:1000])
	req := &client.Request{}
	d.Ask(req)
	if req.Header["If-Range"] != `"v1"` {
		t.Fatalf("continued with %v", req.Header)
	}
	for _, tag := range []string{"", `W/"v2"`} {
		resp := &client.Response{Status: 200, Header: map[string][]string{}}
		if tag != "" {
			resp.Header["ETag"] = []string{tag}
		}
		w, err := d.Open(resp)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(blob[:5000])
		if err := d.Finish(resp, client.ErrTransferIncomplete); err == nil {
			t.Fatal("an interrupted download finished")
		}
		if exists(path + client.ValidatorSuffix) {
			t.Errorf("ETag %q: the old version's validator stays beside a part of another", tag)
		}
		d, _ = client.NewDownload(path, true)
		req := &client.Request{}
		d.Ask(req)
		if _, sent := req.Header["If-Range"]; sent || req.Header["Range"] != "bytes=5000-" {
			t.Errorf("ETag %q: continued with %v", tag, req.Header)
		}
	}
}
