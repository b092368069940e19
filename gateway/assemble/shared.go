package assemble

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/decide"
	"github.com/govgate/govgate/policy"
	"github.com/govgate/govgate/sharedstate"
)

// sharedPing is how often an idle gateway asks whether Redis answers, so that /readyz
// and the metric follow an outage and its end without waiting for a request.
const sharedPing = time.Second

// shared connects to the Redis of shared.redis when it names one, and puts the nonce
// claims of the authenticate stage and the quota and volume counters of the decide stage
// there, each
// with the fallback shared.on_failure names; /readyz, the warnings and /metrics carry
// Redis's health. It runs after the stages it changes are built and before the replay
// window is rebuilt, so that the rebuild claims into the fleet's store.
func (b *builder) shared() error {
	s := b.cfg.Shared
	if !s.Enabled() {
		return nil
	}
	r := s.Redis
	client, err := sharedstate.Connect(b.ctx, r)
	if err != nil {
		return err
	}
	b.onClose("redis client", func() error { client.Close(); return nil })
	log := b.log.With("component", "shared-state")
	health := sharedstate.NewHealth(s.OnFailure, log)
	keys := sharedstate.Keys{Prefix: r.KeyPrefix}
	if b.auth != nil {
		p := b.cfg.TLCP.SignaturePolicy()
		store, err := sharedstate.NewReplayStore(client, keys, r.Timeout, p.MaxNoncesPerDept, p.Skew+p.FutureSkew, p.FutureSkew, health)
		if err != nil {
			return err
		}
		replay := &sharedstate.Replay{Redis: store, Health: health}
		if s.OnFailure.Replay == gateway.OnFailureLocal {
			replay.Local = crypto.NewNonceCacheShared(p.MaxNonces, p.MaxNoncesPerDept)
		}
		b.auth.Replay = replay
	}
	if b.stages.Decide != nil {
		ps, ok := b.stages.Decide.(*decide.PolicyStage)
		if !ok {
			return errors.New("the decide stage keeps no quotas to share")
		}
		quota := &sharedstate.Quota{Redis: sharedstate.NewQuotaStore(client, keys, r.Timeout, health), Health: health}
		switch s.OnFailure.Quota {
		case gateway.OnFailureLocal:
			quota.Local = policy.NewQuotas()
		case gateway.OnFailureAllow:
			quota.Allow = true
		}
		ps.Quotas = quota
		if ps.Volumes != nil {
			ps.Volumes = sharedVolumes(client, keys, r.Timeout, health, s.OnFailure.Quota)
		}
	}
	if b.stages.Parts == nil {
		b.stages.Parts = map[string]gateway.ReadyChecker{}
	}
	b.stages.Parts["shared-state"] = health
	b.degrade("shared-state", health)
	b.admin(nil, health)
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return fmt.Errorf("shared state marker id: %w", err)
	}
	w := sharedstate.Watch{Client: client, Marker: keys.Marker(hex.EncodeToString(id)), Interval: sharedPing, Timeout: r.Timeout, OnLoss: b.reclaim}
	if err := w.Mark(b.ctx); err != nil {
		return err
	}
	b.watch(func(ctx context.Context) { health.Run(ctx, w) })
	log.Info("shared state in redis", "addrs", r.Addrs, "mode", r.Mode, "tls", r.TLS.Enabled(), "on_failure_replay", s.OnFailure.Replay, "on_failure_quota", s.OnFailure.Quota)
	return nil
}

// sharedVolumes is the fleet's store of daily volumes, with the fallback of
// on_failure.quota (volumes are quotas of rows and bytes).
func sharedVolumes(client rueidis.Client, keys sharedstate.Keys, timeout time.Duration, health *sharedstate.Health, onFailure string) *sharedstate.Volume {
	v := &sharedstate.Volume{Redis: sharedstate.NewVolumeStore(client, keys, timeout, health), Health: health}
	switch onFailure {
	case gateway.OnFailureLocal:
		v.Local = policy.NewVolumes()
	case gateway.OnFailureAllow:
		v.Allow = true
	}
	return v
}

// reclaim claims again, in a Redis that lost its data, the nonces the audit log recorded
// within the signature window: what the replay window's rebuild does at start.
func (b *builder) reclaim(ctx context.Context) error {
	if b.auth == nil || b.stages.Audit == nil {
		return nil
	}
	r, err := b.auth.RebuildReplayWindow(ctx, b.cfg.Audit.Dir)
	if err != nil {
		return err
	}
	b.log.Warn("shared state: nonces claimed again from the audit log", "records", r.Records, "nonces", r.Claimed, "skipped", r.Skipped)
	return nil
}
