package gateway_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto"
	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/wire"
)

// rangedBlob serves an opaque file as a web server does: a strong ETag, Range bytes=N-
// and bytes=A-B, If-Range. Its knobs make it hostile; it keeps the requests it saw.
type rangedBlob struct {
	mu       sync.Mutex
	blob     []byte
	etag     string
	repr     string // Repr-Digest to state, "" for none
	short    int    // bytes a 206 to the consumer's range leaves out of what it announces
	prefixes int    // changes: the representation changed before a prefix is asked
	seen     []string
}

func (b *rangedBlob) serve(ctx *fasthttp.RequestCtx) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	rng, ifRange := string(ctx.Request.Header.Peek("Range")), string(ctx.Request.Header.Peek("If-Range"))
	b.seen = append(b.seen, fmt.Sprintf("%s|%s|sig=%t", rng, ifRange, len(ctx.Request.Header.Peek("Signature")) > 0))
	blob, etag := b.blob, b.etag
	if ifRange != "" && b.prefixes > 0 {
		blob, etag = append([]byte("changed "), blob...), `"v2"`
	}
	ctx.SetContentType("application/zip")
	ctx.Response.Header.Set("ETag", etag)
	if b.repr != "" {
		ctx.Response.Header.Set("Repr-Digest", b.repr)
	}
	var from, to int
	switch n, _ := fmt.Sscanf(rng, "bytes=%d-%d", &from, &to); {
	case rng == "" || (ifRange != "" && ifRange != etag):
		ctx.SetBody(blob)
		return true
	case n == 1:
		to = len(blob) - 1
	}
	ctx.SetStatusCode(fasthttp.StatusPartialContent)
	ctx.Response.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, to, len(blob)))
	if ifRange == "" {
		to -= b.short
	}
	ctx.SetBody(blob[from : to+1])
	return true
}

func (b *rangedBlob) requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.seen...)
}

// withRangeRelease releases Content-Range on the opaque exchange route, and sets its
// resume_digest.
func withRangeRelease(resume ResumeDigest) func(string, *gatewaySetup) {
	return func(_ string, s *gatewaySetup) {
		prev := s.config
		s.config = func(cfg *Config) {
			prev(cfg)
			for i := range cfg.Routes {
				if cfg.Routes[i].ID == "tiles-exchange" {
					cfg.Routes[i].ResponseHeaders = []string{"Content-Range", "Repr-Digest"}
					cfg.Routes[i].ResumeDigest = resume
				}
			}
		}
	}
}

// TestStreamWholeDigestOfRange: a provider that states no Repr-Digest; on a range from
// byte N of an opaque resource the gateway reads bytes 0..N-1 itself (If-Range: the
// range's ETag, without the consumer's signature), and states the whole file's SM3 in a
// trailer and in the record. On a 200 the whole digest is the body's.
func TestStreamWholeDigestOfRange(t *testing.T) {
	b := &rangedBlob{blob: []byte(strings.Repeat("PK\x03\x04 registration archive ", 12000)), etag: `"v1"`}
	g := startPolicyGateway(t, 0, b.serve, withStreamRoutes(0), withRangeRelease(""))
	whole := sm3Hex(b.blob)
	r := getStream(t, g.base+"/bulk/tiles/archive.zip", with(exchanger, "Range", "bytes=100000-", "Signature", "sig1=:AAAA:"))
	if r.err != nil || r.status != 206 || string(r.body) != string(b.blob[100000:]) {
		t.Fatalf("%d %v %d bytes", r.status, r.err, len(r.body))
	}
	if got := r.trailer.Get(wire.HeaderWholeDigest); got != wire.DigestPrefix+whole {
		t.Fatalf("whole digest trailer %q, want %s", got, whole)
	}
	if d := r.trailer.Get(wire.HeaderDigest); d != wire.DigestPrefix+sm3Hex(b.blob[100000:]) {
		t.Errorf("digest trailer %q is not of the part sent", d)
	}
	if e := g.audit.last(); e.whole != whole || e.status != 206 {
		t.Errorf("recorded as %+v", e)
	}
	seen := b.requests()
	if len(seen) != 2 || seen[1] != `bytes=0-99999|"v1"|sig=false` {
		t.Errorf("the provider saw %q", seen)
	}
	r = getStream(t, g.base+"/bulk/tiles/archive.zip", exchanger)
	if r.status != 200 || r.trailer.Get(wire.HeaderWholeDigest) != wire.DigestPrefix+whole || len(b.requests()) != 3 {
		t.Errorf("a 200: %d, whole %q, %d requests", r.status, r.trailer.Get(wire.HeaderWholeDigest), len(b.requests()))
	}
}

// TestStreamWholeDigestHostileProvider: a representation that changed before the prefix
// was read, a weak ETag, resume_digest: off — no whole digest is stated (the transfer
// goes on; the consumer's check fails closed). A 206 shorter than its Content-Range, and
// a Repr-Digest that is not the SM3 of the body sent whole, cut the transfer and are on
// the record. A resource released by fields never gets a whole digest: the SM3 of the
// provider's whole document would confirm guesses of withheld fields.
func TestStreamWholeDigestHostileProvider(t *testing.T) {
	blob := []byte(strings.Repeat("PK\x03\x04 registration archive ", 12000))
	for name, tc := range map[string]struct {
		b      *rangedBlob
		resume ResumeDigest
	}{
		"changed":  {b: &rangedBlob{blob: blob, etag: `"v1"`, prefixes: 1}},
		"weak tag": {b: &rangedBlob{blob: blob, etag: `W/"v1"`}},
		"off":      {b: &rangedBlob{blob: blob, etag: `"v1"`}, resume: ResumeDigestOff},
	} {
		g := startPolicyGateway(t, 0, tc.b.serve, withStreamRoutes(0), withRangeRelease(tc.resume))
		r := getStream(t, g.base+"/bulk/tiles/archive.zip", with(exchanger, "Range", "bytes=100000-"))
		if r.err != nil || r.status != 206 || r.trailer.Get(wire.HeaderWholeDigest) != "" || r.trailer.Get(wire.HeaderReceipt) == "" {
			t.Errorf("%s: %d %v whole %q", name, r.status, r.err, r.trailer.Get(wire.HeaderWholeDigest))
		}
		if e := g.audit.last(); e.whole != "" {
			t.Errorf("%s: recorded a whole digest %q", name, e.whole)
		}
	}

	short := &rangedBlob{blob: blob, etag: `"v1"`, short: 10}
	g := startPolicyGateway(t, 0, short.serve, withStreamRoutes(0), withRangeRelease(""))
	raw := getRaw(t, g.base, "/bulk/tiles/archive.zip", with(exchanger, "Range", "bytes=100000-", "Connection", "close"))
	if !strings.HasSuffix(raw, "0\r\n"+wire.HeaderTransferError+": release_refused\r\n") || strings.Contains(raw, wire.HeaderReceipt+": log") {
		t.Errorf("a short range ended as %q", raw[max(0, len(raw)-120):])
	}
	if e := g.audit.last(); e.code != "release_refused" || e.whole != "" {
		t.Errorf("the short range is recorded as %+v", e)
	}

	wrong := crypto.SM3([]byte("another file"))
	lying := &rangedBlob{blob: blob, etag: `"v1"`, repr: "sm3=:" + base64.StdEncoding.EncodeToString(wrong[:]) + ":"}
	g = startPolicyGateway(t, 0, lying.serve, withStreamRoutes(0), withRangeRelease(""))
	raw = getRaw(t, g.base, "/bulk/tiles/archive.zip", with(exchanger, "Connection", "close"))
	if !strings.HasSuffix(raw, "0\r\n"+wire.HeaderTransferError+": release_refused\r\n") {
		t.Errorf("a lying Repr-Digest ended as %q", raw[max(0, len(raw)-120):])
	}
	if e := g.audit.last(); e.code != "release_refused" {
		t.Errorf("the lying Repr-Digest is recorded as %+v", e)
	}

	g = startPolicyGateway(t, 0, csvProvider("text/csv", "uscc,name,status\n91110108MA01A2B3C4,北京数联,存续\n", 8), withStreamRoutes(0))
	r := getStream(t, g.base+"/ent/changes.csv", exchanger)
	if r.status != 200 || r.err != nil || r.trailer.Get(wire.HeaderWholeDigest) != "" {
		t.Errorf("a cut resource: %d %v whole %q", r.status, r.err, r.trailer.Get(wire.HeaderWholeDigest))
	}
}

// TestStreamPrefixReadOnTheRecord: the bytes the gateway reads from the provider before a
// range (never sent to the consumer) are provider traffic a consumer caused: a consumer
// asking bytes=N- near the end, again and again, makes the gateway read N bytes each time.
// They are on the record (transfer.prefix_read), so the auditor sees the amplification;
// a 200 and a range with resume_digest: off read none.
func TestStreamPrefixReadOnTheRecord(t *testing.T) {
	b := &rangedBlob{blob: []byte(strings.Repeat("PK\x03\x04 registration archive ", 12000)), etag: `"v1"`}
	g := startPolicyGateway(t, 0, b.serve, withStreamRoutes(0), withRangeRelease(""))
	n := len(b.blob) - 1
	r := getStream(t, g.base+"/bulk/tiles/archive.zip", with(exchanger, "Range", fmt.Sprintf("bytes=%d-", n)))
	if r.status != 206 || len(r.body) != 1 || r.trailer.Get(wire.HeaderWholeDigest) == "" {
		t.Fatalf("%d %d bytes %q", r.status, len(r.body), r.trailer.Get(wire.HeaderWholeDigest))
	}
	if e := g.audit.last(); e.prefix != int64(n) {
		t.Errorf("a range from byte %d recorded a prefix read of %d", n, e.prefix)
	}
	if r := getStream(t, g.base+"/bulk/tiles/archive.zip", exchanger); r.status != 200 || g.audit.last().prefix != 0 {
		t.Errorf("a 200: %d, prefix read %d", r.status, g.audit.last().prefix)
	}
	g = startPolicyGateway(t, 0, b.serve, withStreamRoutes(0), withRangeRelease(ResumeDigestOff))
	if r := getStream(t, g.base+"/bulk/tiles/archive.zip", with(exchanger, "Range", "bytes=100-")); r.status != 206 || g.audit.last().prefix != 0 {
		t.Errorf("resume_digest off: %d, prefix read %d", r.status, g.audit.last().prefix)
	}
}
