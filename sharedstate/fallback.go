package sharedstate

import (
	"context"
	"errors"
	"time"

	"github.com/redis/rueidis"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/policy"
)

// Replay is the gateway's crypto.ReplayStore when shared state is on: Redis, and while
// Redis cannot answer either a refusal (Local nil: on_failure.replay refuse) or the
// gateway's own cache (local). Nonces claimed locally during an outage are still checked
// after Redis returns, until they go stale, so that a replay to this gateway stays
// refused across the recovery.
type Replay struct {
	Redis  *ReplayStore
	Local  *crypto.NonceCache
	Health *Health
}

// ClaimNonce implements crypto.ReplayStore.
func (r *Replay) ClaimNonce(ctx context.Context, c crypto.NonceClaim, now time.Time) error {
	err := r.Redis.ClaimNonce(ctx, c, now)
	var se *crypto.SignatureError
	switch {
	case err == nil:
		if r.Local != nil && r.Local.Holds(c.KeyID, c.Nonce, now) {
			// Claimed here while Redis was down: give the fresh Redis claim back.
			_ = r.Redis.ReleaseNonce(ctx, c)
			return &crypto.SignatureError{Code: crypto.SigReplayed, Reason: "nonce " + c.Nonce + " was already used with this key"}
		}
		return nil
	case errors.As(err, &se), r.Local == nil, answered(err):
		return err
	}
	r.Health.fellBack(FeatureReplay)
	return r.Local.ClaimNonce(ctx, c, now)
}

// ReleaseNonce implements crypto.ReplayStore: the claim is released wherever it may be.
func (r *Replay) ReleaseNonce(ctx context.Context, c crypto.NonceClaim) error {
	err := r.Redis.ReleaseNonce(ctx, c)
	if r.Local == nil {
		return err
	}
	return r.Local.ReleaseNonce(ctx, c)
}

// Quota is the gateway's policy.QuotaStore when shared state is on: Redis, and while
// Redis cannot answer a refusal (Local nil, Allow false), the gateway's own counters
// (local), or no count at all (allow). A use is given back to Redis only: one counted
// locally during an outage is kept (stricter, never looser).
type Quota struct {
	Redis  *QuotaStore
	Local  *policy.Quotas
	Allow  bool
	Health *Health
}

// CountUse implements policy.QuotaStore.
func (q *Quota) CountUse(ctx context.Context, u policy.QuotaUse) (policy.QuotaVerdict, error) {
	v, err := q.Redis.CountUse(ctx, u)
	switch {
	case err == nil, answered(err):
		return v, err
	case q.Local != nil:
		q.Health.fellBack(FeatureQuota)
		return q.Local.CountUse(ctx, u)
	case q.Allow:
		q.Health.fellBack(FeatureQuota)
		return policy.QuotaVerdict{Allowed: true}, nil
	}
	return v, err
}

// ReturnUse implements policy.QuotaStore. Only a use Redis counted is given back to it:
// one that began before Redis's last transition may have been counted by the fallback, or
// not at all, and the count it would take from Redis is then another request's.
func (q *Quota) ReturnUse(ctx context.Context, u policy.QuotaUse) error {
	if !q.Health.upSince(u.At) {
		return nil // kept: the safe side
	}
	return q.Redis.ReturnUse(ctx, u)
}

// answered reports whether err is Redis's own answer (OOM under noeviction, READONLY): Redis
// is not down then (Health stays up, /readyz ready), so the request is refused rather than
// decided on a fallback that nothing would report.
// The stores wrap Redis's errors, which rueidis.IsRedisErr does not look through.
func answered(err error) bool {
	var re *rueidis.RedisError
	return errors.As(err, &re) && re != rueidis.Nil && !errors.Is(err, context.DeadlineExceeded)
}

// Volume is the gateway's policy.VolumeStore when shared state is on, with the fallback
// of shared.on_failure.quota: while Redis cannot answer, a refusal (Local nil, Allow
// false: the transfer is refused before it starts, or cut at its next window), the
// gateway's own counts (local), or no count at all (allow). Redis's own error answers
// refuse whatever the fallback, as for quotas.
type Volume struct {
	Redis  *VolumeStore
	Local  *policy.Volumes
	Allow  bool
	Health *Health
}

// AddVolume implements policy.VolumeStore.
func (v *Volume) AddVolume(ctx context.Context, u policy.VolumeUse) (policy.VolumeVerdict, error) {
	verdict, err := v.Redis.AddVolume(ctx, u)
	switch {
	case err == nil, answered(err):
		return verdict, err
	case v.Local != nil:
		v.Health.fellBack(FeatureVolume)
		return v.Local.AddVolume(ctx, u)
	case v.Allow:
		v.Health.fellBack(FeatureVolume)
		return policy.VolumeVerdict{Allowed: true}, nil
	}
	return verdict, err
}
