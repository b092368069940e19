package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/gateway"
)

// Replay protection: a verified signature's nonce is claimed as soon as the signature
// verifies, before routing — a replay is refused before it can take quota — and released
// again if the exchange is refused before a provider member is chosen (no route, denied),
// so that only an exchange that reaches a provider (or is served by the gateway) keeps
// one, and refused requests cannot use up a department's share. The claims live in a ReplayStore — the
// in-process NonceCache, bounded in total and per department — and are rebuilt from the
// audit log's tail when the gateway starts, so that a restart does not reopen the window.

// withDefaults fills what p leaves zero.
func withDefaults(p gateway.SignaturePolicy) gateway.SignaturePolicy {
	if p.Skew <= 0 {
		p.Skew = crypto.DefaultSkew
	}
	if p.FutureSkew <= 0 {
		p.FutureSkew = crypto.DefaultFutureSkew
	}
	p.FutureSkew = min(p.FutureSkew, p.Skew)
	if p.MaxNonces <= 0 {
		p.MaxNonces = gateway.DefaultMaxNonces
	}
	if p.MaxNoncesPerDept <= 0 {
		p.MaxNoncesPerDept = max(1, p.MaxNonces/gateway.DefaultDeptShareDivisor)
	}
	p.MaxNoncesPerDept = min(p.MaxNoncesPerDept, p.MaxNonces)
	return p
}

// NewPeerAuthenticatorWith returns the authenticate stage for tlcp (and tls) listeners
// with the signature policy p, its nonces in an in-process cache.
func NewPeerAuthenticatorWith(p gateway.SignaturePolicy) *PeerAuthenticator {
	p = withDefaults(p)
	v := crypto.NewRequestVerifier(p.Skew, p.MaxNonces)
	// Clients built before the declarations were covered only when sent still sign an
	// absent agreement or purpose as the empty value; accept that form for the transition.
	v.LegacyEmptyDeclarations = true
	v.FutureSkew = p.FutureSkew
	v.Nonces = crypto.NewNonceCacheShared(p.MaxNonces, p.MaxNoncesPerDept)
	return &PeerAuthenticator{Signatures: v, Replay: v.Nonces, Now: time.Now}
}

// claim claims the nonce of a signature just verified, before routing, so that a replay
// is refused before it can take quota or reach a policy decision: a nonce already claimed
// is a replay (401), a full share is 503, and a store that cannot answer refuses the
// exchange (503) rather than pass a request it could not check.
func (a *PeerAuthenticator) claim(ctx *fasthttp.RequestCtx, x *gateway.Exchange) error {
	err := a.replay().ClaimNonce(ctx, x.Signature.Claim, a.Now())
	var se *crypto.SignatureError
	switch {
	case err == nil:
		x.Signature.Claimed = true
		return nil
	case errors.As(err, &se):
		return signatureRefusal(se)
	}
	return gateway.Errorf(fasthttp.StatusServiceUnavailable, "replay_store_unavailable", "the replay store could not record the signature's nonce; the exchange was refused").WithCause(err)
}

// ReleaseNonce implements gateway.NonceReleaser.
func (a *PeerAuthenticator) ReleaseNonce(ctx *fasthttp.RequestCtx, x *gateway.Exchange) error {
	return a.replay().ReleaseNonce(ctx, x.Signature.Claim)
}

// replay is the store of claims: Replay, or the verifier's own cache when a
// PeerAuthenticator was built without one.
func (a *PeerAuthenticator) replay() crypto.ReplayStore {
	if a.Replay != nil {
		return a.Replay
	}
	return a.Signatures.Nonces
}

// ReplayRebuild is what RebuildReplayWindow read from the audit log.
type ReplayRebuild struct {
	Records int // records read from the tail
	Claimed int // nonces claimed again
	Skipped int // records that could not be read (their nonces are not remembered)
}

// rebuildMargin covers clock steps and the group commit between an exchange's start and
// its record's append when deciding how far back the tail must be read.
const rebuildMargin = time.Minute

// RebuildReplayWindow claims again the nonce of every signed exchange the audit log in
// dir recorded as forwarded (a provider member chosen) or served, whose signature is still
// fresh, so that a request captured before a restart is refused after it. It reads the log
// from its newest segment back only until records are older than the window can reach
// (Skew + FutureSkew before now), and must run before the listeners serve.
func (a *PeerAuthenticator) RebuildReplayWindow(ctx context.Context, dir string) (ReplayRebuild, error) {
	var out ReplayRebuild
	v := a.Signatures
	now := a.Now()
	// A nonce is live while created+Skew > now; an exchange was accepted only if created
	// was at most FutureSkew after its start, so records that started before cutoff
	// cannot hold a live nonce.
	cutoff := now.Add(-v.Skew - v.FutureSkew - rebuildMargin)
	var newest time.Time // the latest append time seen in the segment being read
	fn := func(_ uint64, b []byte) error {
		out.Records++
		r, err := audit.ParseRecord(b)
		if err != nil {
			out.Skipped++
			return nil
		}
		if t := r.Time.Add(time.Duration(r.LatencyMicros) * time.Microsecond); t.After(newest) {
			newest = t
		}
		claimed, err := a.restore(ctx, r, now)
		if claimed {
			out.Claimed++
		}
		return err
	}
	older := func() bool {
		more := ctx.Err() == nil && (newest.IsZero() || !newest.Before(cutoff))
		newest = time.Time{}
		return more
	}
	if err := audit.ScanNewest(dir, fn, older); err != nil {
		return out, fmt.Errorf("rebuild replay window from %s: %w", dir, err)
	}
	if err := ctx.Err(); err != nil {
		return out, fmt.Errorf("rebuild replay window from %s: %w", dir, err)
	}
	return out, nil
}

// restore claims the nonce of one record when it was used and is still live. A record
// whose signature fields do not parse was not accepted as signed, and claims nothing.
func (a *PeerAuthenticator) restore(ctx context.Context, r *audit.Record, now time.Time) (bool, error) {
	if r.Signature == nil || (r.Error != "" && r.Upstream == "") {
		return false, nil
	}
	p, err := crypto.ParseSignature([]string{r.Signature.Input}, []string{r.Signature.Signature})
	if err != nil {
		return false, nil
	}
	// A parsed record's strings are pieces of one copy of the whole record (audit's
	// parser): the department kept with each restored nonce until it expires is cloned,
	// so that it does not keep its record's kilobyte alive with it.
	c := a.Signatures.ClaimOf(strings.Clone(r.Consumer.Dept), p)
	if !c.Expiry.After(now) {
		return false, nil
	}
	c.Restore = true
	err = a.replay().ClaimNonce(ctx, c, now)
	var se *crypto.SignatureError
	if errors.As(err, &se) && se.Code == crypto.SigReplayed {
		return false, nil // the same nonce recorded twice: remembered once is enough
	}
	if err != nil {
		return false, fmt.Errorf("record %s: %w", r.RequestID, err)
	}
	return true, nil
}
