package client_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/wire"
)

// errorOf is the code and message of a gateway error body.
func errorOf(t *testing.T, body []byte) (code, message string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not an error body: %s", body)
	}
	return e.Error.Code, e.Error.Message
}

func receiptIndex(t *testing.T, receipt string) uint64 {
	t.Helper()
	r, err := audit.ParseReceipt(receipt)
	if err != nil {
		t.Fatalf("receipt %q: %v", receipt, err)
	}
	return r.Index
}

// TestDepartmentVerifiesItsReceiptOnTheDataListener: a department checks its receipt with
// the checkpoint and proof the TLCP data listener serves (no admin API), and the read is
// itself on the record, of kind proof. Refused: another department's record index (the
// same 404 as an index that does not exist, so it is not confirmed), a request without a
// certificate, and a POST.
func TestDepartmentVerifiesItsReceiptOnTheDataListener(t *testing.T) {
	r := startRig(t)
	a := r.client(t, nil)
	other, err := r.ca.IssuePair(certs.PairRequest{Dept: "110000-gongan", System: "police-sync"})
	if err != nil {
		t.Fatal(err)
	}
	b := r.client(t, func(c *client.Config) { c.Identity = identityOf(other) })

	respB, err := b.Do(t.Context(), taxCall(r)) // B's record, whatever the policy says of it
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Do(t.Context(), taxCall(r))
	if err != nil || resp.Status != 200 {
		t.Fatalf("%v %+v", err, resp)
	}
	keys, err := audit.LoadKeySet(filepath.Join(r.auditDir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	rc := &client.ReceiptCheck{Source: &client.GatewaySource{Client: a, BaseURL: r.base}, Keys: keys, Wait: 10 * time.Second}
	cp, err := rc.Verify(t.Context(), resp.Receipt)
	if err != nil {
		t.Fatalf("A's receipt on the data listener: %v", err)
	}
	if cp.Origin != "govgate/gw-client-test" {
		t.Errorf("checkpoint of log %q", cp.Origin)
	}

	// B's receipt checked by A: refused, as not found.
	bIndex := receiptIndex(t, respB.Receipt)
	if _, err := rc.Verify(t.Context(), respB.Receipt); err == nil || !strings.Contains(err.Error(), "404") && !strings.Contains(err.Error(), "not found") {
		t.Errorf("A verified B's receipt: %v", err)
	}
	ask := func(c *client.Client, index, size uint64) *client.Response {
		t.Helper()
		resp, err := c.Do(t.Context(), client.Request{URL: fmt.Sprintf("%s%s?index=%d&size=%d", r.base, wire.PathInclusionProof, index, size)})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	theirs := ask(a, bIndex, cp.Size)
	missing := ask(a, 1<<40, cp.Size)
	if theirs.Status != 404 || missing.Status != 404 {
		t.Fatalf("B's index %d: %d %s; a missing index: %d %s", bIndex, theirs.Status, theirs.Body, missing.Status, missing.Body)
	}
	// A parameter given twice is refused, not read as its first value.
	twice, err := a.Do(t.Context(), client.Request{URL: fmt.Sprintf("%s%s?index=%d&index=%d&size=%d", r.base, wire.PathInclusionProof, bIndex, bIndex, cp.Size)})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := errorOf(t, twice.Body); twice.Status != 400 || code != "ambiguous_query" {
		t.Errorf("a repeated index: %d %s", twice.Status, twice.Body)
	}
	tc, tm := errorOf(t, theirs.Body)
	mc, mm := errorOf(t, missing.Body)
	if tc != mc || strings.Replace(tm, fmt.Sprint(bIndex), "N", 1) != strings.Replace(mm, fmt.Sprint(uint64(1<<40)), "N", 1) {
		t.Errorf("another department's index is told apart from a missing one: %s %q vs %s %q", tc, tm, mc, mm)
	}
	if strings.Contains(string(theirs.Body), "hashes") {
		t.Errorf("B's proof served to A: %s", theirs.Body)
	}
	// B still gets its own proof: the refusal is by department, not a broken endpoint.
	if own := ask(b, bIndex, cp.Size); own.Status != 200 {
		t.Errorf("B asking for its own record: %d %s", own.Status, own.Body)
	}

	// The read is on the record, of kind proof, as the caller.
	read, err := a.Do(t.Context(), client.Request{URL: r.base + wire.PathCheckpoint})
	if err != nil || read.Status != 200 || read.Receipt == "" {
		t.Fatalf("checkpoint read: %v %+v", err, read)
	}
	rec := adminRecord(t, r, receiptIndex(t, read.Receipt))
	if rec.Kind != audit.KindProof || rec.Consumer.Dept != "110000-shuiwu" || rec.Path != wire.PathCheckpoint {
		t.Errorf("the proof read was recorded as kind %q dept %q path %q", rec.Kind, rec.Consumer.Dept, rec.Path)
	}

	// Refused: no certificate (the plain loopback listener), a method other than GET.
	for _, p := range []string{wire.PathCheckpoint, fmt.Sprintf("%s?index=%d&size=%d", wire.PathInclusionProof, bIndex, cp.Size)} {
		hr, err := http.Get(r.plain + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(hr.Body)
		hr.Body.Close()
		if hr.StatusCode != 401 || strings.Contains(string(body), "hashes") || strings.Contains(string(body), "govgate/gw-client-test") {
			t.Errorf("unauthenticated %s: %d %s", p, hr.StatusCode, body)
		}
	}
	if post, err := a.Do(t.Context(), client.Request{Method: "POST", URL: r.base + wire.PathCheckpoint}); err != nil || post.Status != 405 {
		t.Errorf("POST to the checkpoint: %v %+v", err, post)
	}
}

// adminRecord reads record index through the admin API.
func adminRecord(t *testing.T, r *rig, index uint64) *audit.Record {
	t.Helper()
	hr, err := http.Get(fmt.Sprintf("%s/audit/records/%d", r.admin, index))
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Body.Close()
	b, _ := io.ReadAll(hr.Body)
	rec, err := audit.ParseRecord(b)
	if err != nil {
		t.Fatalf("record %d: %v (%s)", index, err, b)
	}
	return rec
}

// hostileSource is a gateway that answers with what it likes: it rewrites the real
// answers before the client sees them.
type hostileSource struct {
	client.ProofSource
	checkpoint func([]byte) []byte
	proof      func([]byte) []byte
}

func (h *hostileSource) Get(ctx context.Context, path string) ([]byte, error) {
	b, err := h.ProofSource.Get(ctx, path)
	if err != nil {
		return nil, err
	}
	cp, _ := h.Paths()
	if path == cp && h.checkpoint != nil {
		return h.checkpoint(b), nil
	}
	if path != cp && h.proof != nil {
		return h.proof(b), nil
	}
	return b, nil
}

// TestForgedProofsAreRefused: a hostile gateway cannot make a receipt verify: a checkpoint
// signed with a key the department's kept-apart copy does not hold (over the true tree or
// another), a checkpoint whose root was changed under its signature, and a proof with a
// hash changed, dropped or added are all refused; the true answers verify.
func TestForgedProofsAreRefused(t *testing.T) {
	r := startRig(t)
	c := r.client(t, nil)
	var receipt string
	for range 5 { // a few records, so that the proof has hashes
		resp, err := c.Do(t.Context(), taxCall(r))
		if err != nil || resp.Status != 200 {
			t.Fatalf("%v %+v", err, resp)
		}
		<-r.seen
		if receipt == "" {
			receipt = resp.Receipt
		}
	}
	keys, err := audit.LoadKeySet(filepath.Join(r.auditDir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	real := &client.GatewaySource{Client: c, BaseURL: r.base}
	// The proof edits need hashes to edit: wait for a checkpoint over all five records, so
	// that the first record's proof is not the empty proof of a one-record tree.
	cpPath, _ := real.Paths()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		note, err := real.Get(t.Context(), cpPath)
		var size int
		if err == nil {
			if lines := strings.Split(string(note), "\n"); len(lines) > 1 {
				fmt.Sscan(lines[1], &size)
			}
		}
		if size >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint over the five records: %d, %v", size, err)
		}
	}
	if _, err := (&client.ReceiptCheck{Source: real, Keys: keys, Wait: 10 * time.Second}).Verify(t.Context(), receipt); err != nil {
		t.Fatalf("the true answers: %v", err)
	}
	forger, err := audit.NewNoteSigner("govgate/gw-client-test", mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	resign := func(change func(*audit.Checkpoint)) func([]byte) []byte {
		return func(note []byte) []byte {
			lines := strings.Split(string(note), "\n")
			var cp audit.Checkpoint
			cp.Origin = lines[0]
			if _, err := fmt.Sscan(lines[1], &cp.Size); err != nil {
				t.Fatal(err)
			}
			cp.Root, _ = base64.StdEncoding.DecodeString(lines[2])
			change(&cp)
			s, err := forger.Sign(cp)
			if err != nil {
				t.Fatal(err)
			}
			return s.Note
		}
	}
	editProof := func(change func([]string) []string) func([]byte) []byte {
		return func(b []byte) []byte {
			var p map[string]any
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			var hs []string
			for _, h := range p["hashes"].([]any) {
				hs = append(hs, h.(string))
			}
			p["hashes"] = change(hs)
			out, _ := json.Marshal(p)
			return out
		}
	}
	flip := func(h string) string {
		raw, _ := base64.StdEncoding.DecodeString(h)
		raw[0] ^= 1
		return base64.StdEncoding.EncodeToString(raw)
	}
	for name, h := range map[string]*hostileSource{
		"checkpoint signed by another key": {checkpoint: resign(func(*audit.Checkpoint) {})},
		"another root, resigned":           {checkpoint: resign(func(c *audit.Checkpoint) { c.Root[0] ^= 1 })},
		"root changed under the signature": {checkpoint: func(note []byte) []byte {
			lines := strings.SplitN(string(note), "\n", 4)
			root, _ := base64.StdEncoding.DecodeString(lines[2])
			root[0] ^= 1
			lines[2] = base64.StdEncoding.EncodeToString(root)
			return []byte(strings.Join(lines, "\n"))
		}},
		"proof hash changed": {proof: editProof(func(hs []string) []string { hs[0] = flip(hs[0]); return hs })},
		"proof hash dropped": {proof: editProof(func(hs []string) []string { return hs[1:] })},
		"proof hash added":   {proof: editProof(func(hs []string) []string { return append(hs, hs[0]) })},
	} {
		h.ProofSource = real
		_, err := (&client.ReceiptCheck{Source: h, Keys: keys, Wait: time.Second}).Verify(t.Context(), receipt)
		if err == nil {
			t.Errorf("%s: the receipt verified", name)
		} else if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
