package assemble

import (
	"context"
	"net/url"
	"sort"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/keys"
)

// KeyUser is a part that uses key-store keys: the versions it has in use, by name.
type KeyUser interface {
	InUse() map[string]int
}

// KeyListing is GET /keys: the keys the store holds, their latest versions and the
// version this gateway's parts use. It lists names, numbers and times only: a key's
// material never leaves the store through the admin API.
type KeyListing struct {
	Store   keys.Store
	Where   string // the store, for comparing gateways: file:DIR or vault:ADDRESS/MOUNT/PREFIX
	Users   []KeyUser
	Timeout time.Duration // bounds the store's listing; default 5s
}

// List reads the store and the parts' versions in use.
func (l *KeyListing) List(ctx context.Context) (*keys.Listing, error) {
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sums, err := l.Store.List(ctx)
	if err != nil {
		return nil, err
	}
	inUse := map[string]int{}
	for _, u := range l.Users {
		for name, v := range u.InUse() {
			inUse[name] = v
		}
	}
	body := &keys.Listing{Store: l.Where, Keys: make([]keys.KeyUse, 0, len(sums))}
	for _, s := range sums {
		e := keys.KeyUse{Name: s.Name, Latest: s.Latest, Created: s.Created, InUse: inUse[s.Name]}
		for _, v := range s.Versions {
			if v.Number == e.InUse {
				e.InUseCreated = v.Created
			}
		}
		body.Keys = append(body.Keys, e)
	}
	sort.Slice(body.Keys, func(i, j int) bool { return body.Keys[i].Name < body.Keys[j].Name })
	return body, nil
}

// Endpoint is GET /keys on the admin API, for the cryptography administrator (as /certs).
// A store that cannot be listed is a 503: the answer is never a partial list.
func (l *KeyListing) Endpoint() gateway.AdminHandler {
	return gateway.AdminHandler{Role: gateway.RoleCryptoAdmin, Method: fasthttp.MethodGet, Path: "/keys", Handler: func(ctx *fasthttp.RequestCtx) {
		body, err := l.List(ctx)
		if err != nil {
			gateway.AdminError(ctx, fasthttp.StatusServiceUnavailable, "key_store_unavailable", "the key store could not be listed")
			return
		}
		gateway.WriteJSON(ctx, fasthttp.StatusOK, body)
	}}
}

// storeWhere names the configured store without credentials: file:DIR, or
// vault:ADDRESS/MOUNT/PREFIX with the address's user information removed.
func storeWhere(cfg *gateway.Config) string {
	if cfg.Keys.Backend != "vault" {
		return "file:" + cfg.Keys.Dir
	}
	v := cfg.Keys.Vault
	addr := v.Address
	if u, err := url.Parse(addr); err == nil {
		u.User = nil
		addr = u.String()
	}
	return "vault:" + addr + "/" + v.Mount + "/" + v.Prefix
}
