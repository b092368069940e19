package client_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto"
)

// bulkAnswer is the registry's exchange of registration changes: a CSV of many rows, and
// on /enterprise/bulk/broken the same with a malformed row in the middle.
func bulkAnswer(ctx *fasthttp.RequestCtx) bool {
	if !strings.HasPrefix(string(ctx.Path()), "/enterprise/bulk") {
		return false
	}
	broken := strings.HasSuffix(string(ctx.Path()), "/broken")
	ctx.SetContentType("text/csv; charset=utf-8")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		w.WriteString("uscc,name,legal_representative,business_scope,status\r\n")
		for i := 0; i < 20000; i++ {
			if broken && i == 10000 {
				w.WriteString("x,\"unclosed,a,b,c\r\n")
			}
			fmt.Fprintf(w, "91110108MA%08d,企业%d,张三,\"note, with comma\",存续\r\n", i, i)
		}
	})
	return true
}

// TestStreamedCallChecksItsTrailers: over TLCP, a CSV exchanged through the gateway is
// cut to the agreement's columns, its receipt comes as a trailer and verifies against the
// audit log, and the body received is the one the digest trailer states; a transfer the
// gateway cuts in the middle is an error for the client, never a shorter dataset.
func TestStreamedCallChecksItsTrailers(t *testing.T) {
	r := startRig(t)
	c := r.client(t, nil)
	req := taxCall(r)
	req.URL = r.base + "/enterprise/bulk/changes.csv"
	resp, err := c.Do(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || resp.Transfer == nil || resp.Transfer.Rows != 20000 {
		t.Fatalf("%d %+v %.300s", resp.Status, resp.Transfer, resp.Body)
	}
	if strings.Contains(string(resp.Body), "business_scope") || strings.Contains(string(resp.Body), "note, with comma") {
		t.Error("a column outside the agreement was released")
	}
	if !strings.HasPrefix(string(resp.Body), "uscc,name,legal_representative,status\r\n") {
		t.Errorf("released header %q", resp.Body[:60])
	}
	keys, err := audit.LoadKeySet(filepath.Join(r.auditDir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	rc := &client.ReceiptCheck{BaseURL: r.admin, Keys: keys, Wait: 10 * time.Second}
	if _, err := rc.Verify(t.Context(), resp.Receipt); err != nil {
		t.Errorf("the receipt trailer does not verify: %v", err)
	}
	sum := crypto.SM3(resp.Body)
	if resp.Transfer.Digest != fmt.Sprintf("%x", sum[:]) {
		t.Error("digest mismatch accepted")
	}

	// Streamed with SendTo, the cut is seen after the rows before it were written: an
	// ErrTransferIncomplete (not a retried request), and fewer rows than the whole.
	req.URL = r.base + "/enterprise/bulk/broken"
	p, err := c.Prepare(req)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	sresp, err := c.SendTo(t.Context(), p, func(*client.Response) (io.Writer, error) { return &got, nil })
	p.Release()
	if !errors.Is(err, client.ErrTransferIncomplete) || sresp == nil || sresp.Transfer != nil || sresp.Size != int64(got.Len()) {
		t.Errorf("a cut transfer, streamed: %v %+v", err, sresp)
	}
	if strings.Count(got.String(), "\r\n") > 10001 {
		t.Errorf("%d rows of a transfer cut at row 10000", strings.Count(got.String(), "\r\n"))
	}

	resp, err = c.Do(t.Context(), req)
	// The call is not sent again once its answer broke off (its signature is spent: a
	// second attempt would be refused as a replay and hide the cut).
	if err == nil || !errors.Is(err, client.ErrTransferIncomplete) {
		status := 0
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("a cut transfer, buffered: %v (status %d), want ErrTransferIncomplete", err, status)
	}
}

// sendTo streams the answer to url into w.
func sendTo(t *testing.T, c *client.Client, url string, w io.Writer) (*client.Response, error) {
	p, err := c.Prepare(client.Request{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	return c.SendTo(t.Context(), p, func(*client.Response) (io.Writer, error) { return w, nil })
}

// TestStreamedAnswerWithBadTrailersRefused: a server (here not the gateway: a man in the
// middle or a misconfigured proxy) whose trailers do not prove the transfer — receipt
// missing or sent twice, a digest of another body, a byte count that lies — is a failed
// call.
func TestStreamedAnswerWithBadTrailersRefused(t *testing.T) {
	r := startRig(t)
	c := r.client(t, nil)
	const body = "uscc,name\r\n1,a\r\n"
	sum := crypto.SM3([]byte(body))
	good := fmt.Sprintf("sm3=%x", sum[:])
	cases := map[string][]string{
		"valid":              {"X-Govgate-Receipt", "log=x; index=1; leaf=00", "X-Govgate-Digest", good, "X-Govgate-Rows", "1", "X-Govgate-Bytes", fmt.Sprint(len(body))},
		"no receipt":         {"X-Govgate-Digest", good, "X-Govgate-Rows", "1", "X-Govgate-Bytes", fmt.Sprint(len(body))},
		"receipt twice":      {"X-Govgate-Receipt", "a", "X-Govgate-Receipt", "b", "X-Govgate-Digest", good, "X-Govgate-Rows", "1", "X-Govgate-Bytes", fmt.Sprint(len(body))},
		"other digest":       {"X-Govgate-Receipt", "a", "X-Govgate-Digest", "sm3=00", "X-Govgate-Rows", "1", "X-Govgate-Bytes", fmt.Sprint(len(body))},
		"bytes lie":          {"X-Govgate-Receipt", "a", "X-Govgate-Digest", good, "X-Govgate-Rows", "1", "X-Govgate-Bytes", "999"},
		"error trailer":      {"X-Govgate-Receipt", "a", "X-Govgate-Digest", good, "X-Govgate-Rows", "1", "X-Govgate-Bytes", fmt.Sprint(len(body)), "X-Govgate-Error", "release_refused"},
		"digest twice":       {"X-Govgate-Receipt", "a", "X-Govgate-Digest", good, "X-Govgate-Digest", good, "X-Govgate-Rows", "1", "X-Govgate-Bytes", fmt.Sprint(len(body))},
		"negative row count": {"X-Govgate-Receipt", "a", "X-Govgate-Digest", good, "X-Govgate-Rows", "-1", "X-Govgate-Bytes", fmt.Sprint(len(body))},
	}
	for name, trailers := range cases {
		srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("text/csv")
			ctx.Response.Header.AddTrailer("X-Govgate-Receipt, X-Govgate-Digest, X-Govgate-Rows, X-Govgate-Bytes, X-Govgate-Error")
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) { w.WriteString(body) })
			for i := 0; i < len(trailers); i += 2 {
				ctx.Response.Header.Add(trailers[i], trailers[i+1])
			}
		}}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		url := "http://" + ln.Addr().String() + "/x.csv"
		resp, err := c.Do(t.Context(), client.Request{URL: url})
		var streamed bytes.Buffer
		sresp, serr := sendTo(t, c, url, &streamed)
		srv.Shutdown()
		if name == "valid" {
			if serr != nil || sresp.Transfer == nil || streamed.String() != body || sresp.Size != int64(len(body)) {
				t.Errorf("valid, streamed: %v %+v %q", serr, sresp, streamed.String())
			}
		} else if !errors.Is(serr, client.ErrTransferIncomplete) {
			t.Errorf("%s, streamed: accepted (%v)", name, serr)
		}
		if name == "valid" {
			if err != nil || resp.Transfer == nil || resp.Receipt != "log=x; index=1; leaf=00" {
				t.Errorf("valid: %v %+v", err, resp)
			}
			continue
		}
		if !errors.Is(err, client.ErrTransferIncomplete) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
}
