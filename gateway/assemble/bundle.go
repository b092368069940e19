package assemble

import (
	"context"
	"fmt"

	"github.com/govgate/govgate/gateway/decide"
	"github.com/govgate/govgate/policy"
	"github.com/govgate/govgate/policy/bundle"
)

// policyBundle loads the policy from the signed bundle of policy.bundle: the first bundle
// must be fetched and verified now, or kept (the last live one) in persist_dir and
// verified again (a gateway does not start with nothing to decide by),
// then a poller makes each new verified bundle live through the engine's reload, which
// compiles it and runs its tests first.
func (b *builder) policyBundle() error {
	p := b.cfg.Policy
	v, err := bundle.NewVerifier(p.Bundle.SignersCA, p.Bundle.CRL, p.Bundle.Audience)
	if err != nil {
		return err
	}
	log := b.log.With("component", "policy-bundle")
	poller, err := bundle.NewPoller(bundle.PollerOptions{
		URL: p.Bundle.URL, Interval: p.Bundle.PollInterval, Verifier: v, Logger: log, PersistDir: p.Bundle.PersistDir,
	})
	if err != nil {
		return err
	}
	persisted, err := poller.LoadPersisted()
	if err != nil {
		return err
	}
	if !persisted {
		if _, err := poller.Poll(b.ctx); err != nil {
			return fmt.Errorf("first policy bundle: %w", err)
		}
	}
	// The engine starts on the kept bundle, which was live, before the server's is
	// fetched: a newer one then goes through the reload (compile, tests) like any other,
	// so a signed bundle whose tests fail is pending, not a gateway that cannot start.
	engine, err := policy.New(b.ctx, policy.Options{
		Files:      poller.Files,
		SourceName: p.Bundle.URL,
		CacheSize:  p.CacheSize,
		Logger:     b.log.With("component", "policy"),
		// The fast path is checked at every revision the poller brings, as from a directory.
		FastPathCheckInputs: p.FastPathCheckInputs,
	})
	if err != nil {
		return err
	}
	if persisted {
		if changed, err := poller.Poll(b.ctx); err != nil {
			log.Warn("policy bundle server not answering or its bundle refused; starting on the persisted bundle", "dir", p.Bundle.PersistDir, "error", err)
		} else if changed {
			_, _, _ = engine.Reload(b.ctx) // a refusal is the engine's to log and show (pending)
		}
	}
	if err := poller.Persist(engine.Revision().ID); err != nil {
		log.Warn("policy bundle not persisted", "dir", p.Bundle.PersistDir, "error", err)
	}
	b.watch(func(ctx context.Context) {
		poller.Run(ctx, func(ctx context.Context) error {
			_, _, err := engine.Reload(ctx)
			return err
		})
	})
	ps := decide.NewPolicyStage(engine)
	ps.Bundle = poller
	b.stages.Decide, b.stages.Release, b.stages.Catalog = ps, ps, ps
	b.admin(ps.AdminHandlers(), ps.Collector())
	b.admin(nil, ps.BundleCollector())
	return nil
}
