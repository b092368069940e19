package decide

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/internal/metric"
	"github.com/govgate/govgate/policy"
	"github.com/govgate/govgate/policy/bundle"
)

// AdminHandlers are the policy endpoints of the admin API: the status of the live
// revision, a reload on demand, and dry-run evaluation for security officers.
func (p *PolicyStage) AdminHandlers() []gateway.AdminHandler {
	return []gateway.AdminHandler{
		{Role: gateway.RoleSecurityOfficer, Method: fasthttp.MethodGet, Path: "/policy", Handler: p.serveStatus},
		{Role: gateway.RoleSecurityOfficer, Method: fasthttp.MethodPost, Path: "/policy/reload", Handler: p.serveReload},
		{Role: gateway.RoleSecurityOfficer, Method: fasthttp.MethodPost, Path: "/policy/eval", ReadOnly: true, Handler: p.serveEval},
	}
}

func (p *PolicyStage) serveStatus(ctx *fasthttp.RequestCtx) {
	st := p.Engine.Status()
	if p.Bundle == nil {
		gateway.WriteJSON(ctx, fasthttp.StatusOK, st)
		return
	}
	gateway.WriteJSON(ctx, fasthttp.StatusOK, struct {
		policy.Status
		Bundle *bundle.Status `json:"bundle"`
	}{st, p.Bundle.Status(st.Revision)})
}

// serveReload reloads now. A revision that does not compile or whose tests fail is refused
// with 422 and the reason; the running revision stays and is named in the answer.
func (p *PolicyStage) serveReload(ctx *fasthttp.RequestCtx) {
	rev, changed, err := p.Engine.Reload(ctx)
	if err != nil {
		body := map[string]any{"error": map[string]string{"code": "policy_reload_failed", "message": err.Error()}}
		if rev != nil {
			body["running_revision"] = rev.ID
		}
		gateway.WriteJSON(ctx, fasthttp.StatusUnprocessableEntity, body)
		return
	}
	gateway.WriteJSON(ctx, fasthttp.StatusOK, map[string]any{"revision": rev.ID, "changed": changed})
}

// serveEval evaluates the posted input (DESIGN.md's input document) on the live revision
// without deciding anything: nothing is forwarded, counted against a quota or cached.
// ?explain=true adds the rules that fired.
func (p *PolicyStage) serveEval(ctx *fasthttp.RequestCtx) {
	explain := string(ctx.QueryArgs().Peek("explain")) == "true"
	out, err := p.Engine.Eval(ctx, ctx.PostBody(), explain)
	if err != nil {
		gateway.AdminError(ctx, fasthttp.StatusBadRequest, "bad_input", err.Error())
		return
	}
	gateway.WriteJSON(ctx, fasthttp.StatusOK, out)
}

// Collector returns the policy's metrics: reloads, the live revision, the decision cache,
// read from the engine's status at scrape time.
func (p *PolicyStage) Collector() prometheus.Collector {
	d := prometheus.NewDesc
	return &policyCollector{
		p:            p,
		reloads:      d("govgate_policy_reloads_total", "Policy revisions made live (ok) or refused (error).", []string{"result"}, nil),
		failing:      d("govgate_policy_reload_failing", "Whether the latest policy reload was refused (1): the running revision is older than the files.", nil, nil),
		revision:     d("govgate_policy_revision_info", "The live policy revision.", []string{"revision"}, nil),
		cache:        d("govgate_policy_decision_cache_total", "Decision cache lookups by result.", []string{"result"}, nil),
		cacheEntries: d("govgate_policy_decision_cache_entries", "Decisions held in the cache.", nil, nil),
	}
}

type policyCollector struct {
	p                                               *PolicyStage
	reloads, failing, revision, cache, cacheEntries *prometheus.Desc
}

func (c *policyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.reloads, c.failing, c.revision, c.cache, c.cacheEntries} {
		ch <- d
	}
}

func (c *policyCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Engine.Status()
	ch <- metric.Const(c.reloads, prometheus.CounterValue, float64(s.Reloads), "ok")
	ch <- metric.Const(c.reloads, prometheus.CounterValue, float64(s.Failures), "error")
	ch <- metric.Const(c.failing, prometheus.GaugeValue, metric.Flag(s.LastError != ""))
	ch <- metric.Const(c.revision, prometheus.GaugeValue, 1, s.Revision)
	ch <- metric.Const(c.cache, prometheus.CounterValue, float64(s.CacheHits), "hit")
	ch <- metric.Const(c.cache, prometheus.CounterValue, float64(s.CacheMisses), "miss")
	ch <- metric.Const(c.cacheEntries, prometheus.GaugeValue, float64(s.CacheEntries))
}
