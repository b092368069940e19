package gateway_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/audit"
	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/wire"
)

// TestPublishCatalogMismatchRecorded: a complete 200 of a published dataset whose size or
// ETag contradicts the catalog's size_bytes or version is released (the catalog lags a
// publication) but the record says which (transfer.catalog_mismatch); one that agrees has
// no such member. The record also holds the whole digest the gateway stated.
func TestPublishCatalogMismatchRecorded(t *testing.T) {
	const version, size = "2026-12-01", 30388951 // rego/catalog.yaml, legal_entity.published_list
	// What the provider serves next; the race detector sees no order through the sockets,
	// so it is handed over under a lock.
	var mu sync.Mutex
	var etag, body string
	list := func(ctx *fasthttp.RequestCtx) bool {
		mu.Lock()
		defer mu.Unlock()
		ctx.Response.Header.Set("ETag", etag)
		ctx.SetContentType("text/csv")
		ctx.SetBodyString(body)
		return true
	}
	dir := t.TempDir()
	var l *audit.Log
	route := func(_ string, s *gatewaySetup) {
		prev := s.config
		s.config = func(cfg *Config) {
			if prev != nil {
				prev(cfg)
			}
			cfg.Routes = append(cfg.Routes, Route{ID: "list-publish", PathPrefix: "/legal-entity/published", Resource: "legal_entity.published_list",
				Mode: ModePublish, Pool: "population", TargetZone: ZoneInternal, Timeout: 2 * time.Second, TransferTimeout: time.Minute})
		}
	}
	g := startPolicyGateway(t, 0, list, withAuditLog(t, dir, &l), route)
	for _, tc := range []struct {
		etag, body, want string
	}{
		{`"` + version + `-9f3a"`, strings.Repeat("x", size), ""},
		{`"` + version + `"`, "uscc,name\r\n", "size"},
		{`"2026-11-30-77aa"`, strings.Repeat("x", size), "version"},
		{`"2026-12-011"`, "uscc\r\n", "size,version"},
	} {
		mu.Lock()
		etag, body = tc.etag, tc.body
		mu.Unlock()
		// 30 MB, under the race detector: no 10 s client timeout (the route bounds it).
		r := getStreamWith(t, &http.Client{Timeout: 2 * time.Minute}, g.base+"/legal-entity/published/entities.csv", exchanger)
		if r.status != 200 || r.err != nil || len(r.body) != len(tc.body) {
			t.Fatalf("%s: %d %v", tc.etag, r.status, r.err)
		}
		rec := recordOf(t, l, r.trailer.Get(wire.HeaderReceipt))
		if rec.Transfer == nil || rec.Transfer.CatalogMismatch != tc.want {
			t.Errorf("%s, %d bytes: recorded %+v, want catalog_mismatch %q", tc.etag, len(tc.body), rec.Transfer, tc.want)
		}
		if rec.Transfer != nil && rec.Transfer.WholeDigest != sm3Hex([]byte(tc.body)) {
			t.Errorf("%s: whole digest %q", tc.etag, rec.Transfer.WholeDigest)
		}
	}
}
