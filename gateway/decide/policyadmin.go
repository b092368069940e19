package decide

import (
	"fmt"
	"io"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/gateway"
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
	gateway.WriteJSON(ctx, fasthttp.StatusOK, p.Engine.Status())
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

// WriteMetrics adds the policy's metrics: reloads, the live revision, the decision cache.
func (p *PolicyStage) WriteMetrics(w io.Writer) {
	s := p.Engine.Status()
	failing := 0
	if s.LastError != "" {
		failing = 1
	}
	gateway.WriteMetricHeader(w, "govgate_policy_reloads_total", "counter", "Policy revisions made live (ok) or refused (error).")
	fmt.Fprintf(w, "govgate_policy_reloads_total{result=\"ok\"} %d\n", s.Reloads)
	fmt.Fprintf(w, "govgate_policy_reloads_total{result=\"error\"} %d\n", s.Failures)
	gateway.WriteMetricHeader(w, "govgate_policy_reload_failing", "gauge", "Whether the latest policy reload was refused (1): the running revision is older than the files.")
	fmt.Fprintf(w, "govgate_policy_reload_failing %d\n", failing)
	gateway.WriteMetricHeader(w, "govgate_policy_revision_info", "gauge", "The live policy revision.")
	fmt.Fprintf(w, "govgate_policy_revision_info{revision=%q} 1\n", s.Revision)
	gateway.WriteMetricHeader(w, "govgate_policy_decision_cache_total", "counter", "Decision cache lookups by result.")
	fmt.Fprintf(w, "govgate_policy_decision_cache_total{result=\"hit\"} %d\n", s.CacheHits)
	fmt.Fprintf(w, "govgate_policy_decision_cache_total{result=\"miss\"} %d\n", s.CacheMisses)
	gateway.WriteMetricHeader(w, "govgate_policy_decision_cache_entries", "gauge", "Decisions held in the cache.")
	fmt.Fprintf(w, "govgate_policy_decision_cache_entries %d\n", s.CacheEntries)
}
