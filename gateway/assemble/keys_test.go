package assemble

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/keys"
)

// TestKeysEndpointListsVersionsNeverMaterial: GET /keys of an assembled gateway lists the
// audit key with its latest version and the version in use, follows a rotation in the
// store, and its raw body carries none of the key material of any version, in any
// encoding a leak would take (PEM, its base64 lines, DER in hex or base64). It is the
// cryptography administrator's, as /certs.
func TestKeysEndpointListsVersionsNeverMaterial(t *testing.T) {
	p := newTestPKI(t)
	pln := startProvider(t)
	listen, admin := freeAddr(t), freeAddr(t)
	cfg := exampleConfig(t, p, listen, admin, pln.Addr().String())
	a := startBuilt(t, cfg, quiet)
	if ep := (&KeyListing{}).Endpoint(); ep.Role != gateway.RoleCryptoAdmin || ep.Method != fasthttp.MethodGet {
		t.Fatalf("GET /keys guarded by %q, method %s; want the cryptography administrator's GET", ep.Role, ep.Method)
	}

	get := func() ([]byte, keys.Listing) {
		status, body, err := fasthttp.Get(nil, "http://"+admin+"/keys")
		if err != nil || status != 200 {
			t.Fatalf("GET /keys: %v %d %s", err, status, body)
		}
		var l keys.Listing
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatalf("GET /keys: %v: %s", err, body)
		}
		return body, l
	}
	body, l := get()
	if l.Store != "file:"+cfg.Keys.Dir || len(l.Keys) != 1 || l.Keys[0].Name != cfg.Audit.KeyName || l.Keys[0].Latest != 1 || l.Keys[0].InUse != 1 || l.Keys[0].InUseCreated.IsZero() {
		t.Fatalf("GET /keys: %s", body)
	}

	if _, err := keys.PutNewSM2Key(t.Context(), a.Store, cfg.Audit.KeyName, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rotated key in use", func() bool {
		body, l = get()
		return l.Keys[0].Latest == 2 && l.Keys[0].InUse == 2
	})
	for n := 1; n <= 2; n++ {
		v, err := a.Store.Get(t.Context(), cfg.Audit.KeyName, n)
		if err != nil {
			t.Fatal(err)
		}
		assertNoMaterial(t, body, v.Data)
	}
}

// assertNoMaterial fails when body holds the PEM key data, any of its base64 lines, or
// its DER in hex or base64.
func assertNoMaterial(t *testing.T, body, data []byte) {
	t.Helper()
	s := string(body)
	if strings.Contains(s, "PRIVATE KEY") || strings.Contains(s, string(data)) {
		t.Fatalf("GET /keys holds a key's PEM: %s", body)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(s, line) {
			t.Fatalf("GET /keys holds a line of a key's PEM %q", line)
		}
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		t.Fatal("key version data is not PEM")
	}
	for _, enc := range []string{hex.EncodeToString(blk.Bytes), base64.StdEncoding.EncodeToString(blk.Bytes), base64.RawURLEncoding.EncodeToString(blk.Bytes)} {
		for i := 0; i+24 <= len(enc); i += 24 {
			if strings.Contains(s, enc[i:i+24]) {
				t.Fatalf("GET /keys holds a piece of a key's DER %q", enc[i:i+24])
			}
		}
	}
}
