package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/govgate/govgate/audit"
)

// errNotYet is a 404 from the audit endpoints: nothing to serve yet.
var errNotYet = errors.New("not found")

// ReceiptCheck verifies receipts against the gateway's audit endpoints (the admin API, or
// whatever publishes its checkpoints and proofs) with audit keys the caller trusts.
type ReceiptCheck struct {
	BaseURL string // e.g. http://127.0.0.1:9090
	Keys    *audit.KeySet
	// Wait bounds how long to wait for a checkpoint that covers the record; one is signed
	// every second while records arrive.
	Wait time.Duration
	HTTP *http.Client
}

// Verify checks that the record a receipt names is in the log: it waits for a signed
// checkpoint covering it, verifies the checkpoint with the trusted keys, fetches the
// inclusion proof and checks it against the checkpoint's root.
func (rc *ReceiptCheck) Verify(ctx context.Context, receipt string) (*audit.SignedCheckpoint, error) {
	r, err := audit.ParseReceipt(receipt)
	if err != nil {
		return nil, err
	}
	hc := rc.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	deadline := time.Now().Add(rc.Wait)
	var c *audit.SignedCheckpoint
	for {
		note, err := rc.get(ctx, hc, "/audit/checkpoint")
		switch {
		case errors.Is(err, errNotYet): // no checkpoint signed yet
		case err != nil:
			return nil, err
		default:
			if c, err = audit.OpenCheckpoint(note, rc.Keys); err != nil {
				return nil, fmt.Errorf("checkpoint: %w", err)
			}
		}
		if c != nil && c.Size > r.Index {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no signed checkpoint covers record %d after %s", r.Index, rc.Wait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	body, err := rc.get(ctx, hc, fmt.Sprintf("/audit/proof/inclusion?index=%d&size=%d", r.Index, c.Size))
	if err != nil {
		return nil, err
	}
	var p struct {
		Hashes []string `json:"hashes"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	hashes := make([][]byte, len(p.Hashes))
	for i, h := range p.Hashes {
		if hashes[i], err = base64.StdEncoding.DecodeString(h); err != nil {
			return nil, fmt.Errorf("inclusion proof hash %d: %w", i, err)
		}
	}
	return c, audit.VerifyReceipt(r, c, hashes)
}

func (rc *ReceiptCheck) get(ctx context.Context, hc *http.Client, path string) ([]byte, error) {
	u, err := url.JoinPath(rc.BaseURL, "/")
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u[:len(u)-1]+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("%s: %w", path, errNotYet)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(path + ": " + resp.Status + ": " + string(body))
	}
	return body, nil
}
