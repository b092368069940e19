package fleet

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/govgate/govgate/client"
)

// maxBody bounds one admin answer.
const maxBody = 4 << 20

// Getter fetches one admin URL and returns the status and body.
type Getter interface {
	Get(ctx context.Context, url string) (status int, body []byte, err error)
}

// HTTPGetter reads a plain-HTTP admin API (loopback, development) or one behind TLS.
type HTTPGetter struct {
	Client *http.Client // default: a client with a 10 s timeout
}

// Get implements Getter.
func (g HTTPGetter) Get(ctx context.Context, url string) (int, []byte, error) {
	hc := g.Client
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > maxBody {
		return 0, nil, fmt.Errorf("GET %s: answer larger than %d bytes", url, maxBody)
	}
	return resp.StatusCode, body, nil
}

// TLCPGetter reads an admin API that speaks TLCP (admin.tlcp), with an administrator's
// certificate pair: the client package's dialing, unsigned requests.
type TLCPGetter struct {
	Client *client.Client
}

// Get implements Getter.
func (g TLCPGetter) Get(ctx context.Context, url string) (int, []byte, error) {
	resp, err := g.Client.Do(ctx, client.Request{Method: http.MethodGet, URL: url})
	if err != nil {
		return 0, nil, err
	}
	return resp.Status, resp.Body, nil
}
