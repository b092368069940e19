package gateway_test

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/wire"
)

// TestPublishCutETagNoOracle: many providers' ETag is a hash of the whole document (S3's
// MD5, a content SHA-256). The consumer of a cut must not learn it — with it, the consumer
// confirms guesses of the fields withheld from it — neither from the gateway's ETag nor by
// forging a gateway tag around a guessed provider tag and watching for a 304. Nor does the
// gateway's tag carry the release profile (a hash of the labels, types and masks of the
// cut) in the clear.
func TestPublishCutETagNoOracle(t *testing.T) {
	sum := crypto.SM3([]byte(publishedRows))
	p := &publishedCSV{etag: `"` + hex.EncodeToString(sum[:]) + `"`}
	g := startPolicyGateway(t, 0, p.serve, withStreamRoutes(0))
	r := getStream(t, g.base+"/pub/ent/changes.csv", exchanger)
	tag := r.header.Get("ETag")
	if r.status != 200 || !strings.HasPrefix(tag, `"`+wire.ReleasedTagPrefix) {
		t.Fatalf("%d ETag %q", r.status, tag)
	}
	opaque := strings.TrimPrefix(strings.Trim(tag, `"`), wire.ReleasedTagPrefix)
	for _, seg := range strings.Split(opaque, ".") {
		dec, _ := base64.RawURLEncoding.DecodeString(seg)
		if strings.Contains(string(dec), hex.EncodeToString(sum[:])) || strings.Contains(seg, hex.EncodeToString(sum[:])) {
			t.Fatalf("the gateway's ETag %q carries the provider's content hash", tag)
		}
	}
	// The gateway still answers its own tag with a 304.
	if r := getStream(t, g.base+"/pub/ent/changes.csv", with(exchanger, "If-None-Match", tag)); r.status != 304 {
		t.Fatalf("the gateway's own tag: %d", r.status)
	}
	// A tag forged around the right guess, in the format the gateway wrote before: no 304,
	// and the provider is asked without a condition.
	enc := base64.RawURLEncoding.EncodeToString([]byte(p.etag))
	for _, profile := range strings.Split(opaque, ".") {
		forged := `"` + wire.ReleasedTagPrefix + profile + "." + enc + `"`
		r := getStream(t, g.base+"/pub/ent/changes.csv", with(exchanger, "If-None-Match", forged))
		if inm, _ := p.lastAsked(); r.status != 200 || inm != "" {
			t.Errorf("a forged tag confirmed the guess: %d, the provider was asked %q", r.status, inm)
		}
	}
}
