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
	"github.com/govgate/govgate/wire"
)

// errNotYet is a 404 from the audit endpoints: nothing to serve yet.
var errNotYet = errors.New("not found")

// maxProofBody bounds what a proof source may send back.
const maxProofBody = 1 << 20

// ProofSource is where a receipt's checkpoint and inclusion proof come from. Nothing it
// returns is trusted: the checkpoint is verified with keys kept apart, the proof against
// the checkpoint's root.
type ProofSource interface {
	// Get fetches path (with its query) and returns the body of a 200; a 404 wraps
	// errNotYet.
	Get(ctx context.Context, path string) ([]byte, error)
	// Paths are the source's checkpoint path and inclusion-proof path.
	Paths() (checkpoint, inclusion string)
}

// AdminSource reads the admin API's /audit endpoints (role auditor) over plain HTTP: what
// an auditor, or a department on a gateway whose admin API it can reach, uses.
type AdminSource struct {
	BaseURL string // e.g. http://127.0.0.1:9090
	HTTP    *http.Client
}

// Paths implements ProofSource.
func (s *AdminSource) Paths() (string, string) { return "/audit/checkpoint", "/audit/proof/inclusion" }

// Get implements ProofSource.
func (s *AdminSource) Get(ctx context.Context, path string) ([]byte, error) {
	hc := s.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	u, err := url.JoinPath(s.BaseURL, "/")
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
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProofBody))
	if err != nil {
		return nil, err
	}
	return proofAnswer(path, resp.StatusCode, resp.Status, body)
}

// GatewaySource reads a department's own proofs from a data listener
// (wire.PathCheckpoint, wire.PathInclusionProof) with the department's client: the
// gateway serves proofs of the caller's own records only, and needs no admin API.
type GatewaySource struct {
	Client  *Client
	BaseURL string // the data listener: https://host:port
}

// Paths implements ProofSource.
func (s *GatewaySource) Paths() (string, string) { return wire.PathCheckpoint, wire.PathInclusionProof }

// Get implements ProofSource.
func (s *GatewaySource) Get(ctx context.Context, path string) ([]byte, error) {
	resp, err := s.Client.Do(ctx, Request{Method: http.MethodGet, URL: s.BaseURL + path})
	if err != nil {
		return nil, err
	}
	if len(resp.Body) > maxProofBody {
		return nil, fmt.Errorf("%s: an answer of %d bytes", path, len(resp.Body))
	}
	return proofAnswer(path, resp.Status, http.StatusText(resp.Status), resp.Body)
}

func proofAnswer(path string, status int, statusText string, body []byte) ([]byte, error) {
	switch status {
	case http.StatusOK:
		return body, nil
	case http.StatusNotFound:
		return nil, fmt.Errorf("%s: %w: %s", path, errNotYet, body)
	}
	return nil, fmt.Errorf("%s: %d %s: %s", path, status, statusText, body)
}

// ReceiptCheck verifies receipts against the gateway's audit endpoints with audit keys the
// caller trusts.
type ReceiptCheck struct {
	// Source serves the checkpoint and proofs; nil reads the admin API at BaseURL.
	Source  ProofSource
	BaseURL string // the admin API, when Source is nil: e.g. http://127.0.0.1:9090
	Keys    *audit.KeySet
	// Wait bounds how long to wait for a checkpoint that covers the record; one is signed
	// every checkpoint interval while records arrive.
	Wait time.Duration
	HTTP *http.Client // for BaseURL
}

// Verify checks that the record a receipt names is in the log: it waits for a signed
// checkpoint covering it, verifies the checkpoint with the trusted keys, fetches the
// inclusion proof and checks it against the checkpoint's root.
func (rc *ReceiptCheck) Verify(ctx context.Context, receipt string) (*audit.SignedCheckpoint, error) {
	r, err := audit.ParseReceipt(receipt)
	if err != nil {
		return nil, err
	}
	if rc.Keys == nil {
		return nil, errors.New("no audit keys to verify the checkpoint with")
	}
	src := rc.Source
	if src == nil {
		src = &AdminSource{BaseURL: rc.BaseURL, HTTP: rc.HTTP}
	}
	checkpointPath, inclusionPath := src.Paths()
	c, err := rc.covering(ctx, src, checkpointPath, r.Index)
	if err != nil {
		return nil, err
	}
	body, err := src.Get(ctx, fmt.Sprintf("%s?index=%d&size=%d", inclusionPath, r.Index, c.Size))
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

// covering waits for a checkpoint, verified with the trusted keys, that covers index.
func (rc *ReceiptCheck) covering(ctx context.Context, src ProofSource, path string, index uint64) (*audit.SignedCheckpoint, error) {
	deadline := time.Now().Add(rc.Wait)
	for {
		note, err := src.Get(ctx, path)
		switch {
		case errors.Is(err, errNotYet): // no checkpoint signed yet
		case err != nil:
			return nil, err
		default:
			c, err := audit.OpenCheckpoint(note, rc.Keys)
			if err != nil {
				return nil, fmt.Errorf("checkpoint: %w", err)
			}
			if c.Size > index {
				return c, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no signed checkpoint covers record %d after %s", index, rc.Wait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
