package assemble

import (
	"github.com/govgate/govgate/gateway/decide"
	"github.com/govgate/govgate/policy"
)

// policy loads the policy engine (the directory, or the shipped policy), watches the
// directory when asked, and plugs in the decide and release stages, the catalog and the
// policy's admin endpoints and metrics.
func (b *builder) policy() error {
	if b.without(Policy) {
		return nil
	}
	p := b.cfg.Policy
	if p.Bundle != nil {
		return b.policyBundle() // bundle.go
	}
	engine, err := policy.New(b.ctx, policy.Options{
		Dir:                 p.Dir,
		SkipTests:           p.SkipTests,
		CacheSize:           p.CacheSize,
		FastPathCheckInputs: p.FastPathCheckInputs,
		Logger:              b.log.With("component", "policy"),
	})
	if err != nil {
		return err
	}
	if p.Dir != "" && *p.Watch {
		// Run as a watcher, so that Close waits until the directory's watch is closed.
		run, err := engine.OpenWatch()
		if err != nil {
			return err
		}
		b.watch(run)
	}
	ps := decide.NewPolicyStage(engine)
	b.stages.Decide, b.stages.Release, b.stages.Catalog = ps, ps, ps
	b.admin(ps.AdminHandlers(), ps.Collector())
	return nil
}
