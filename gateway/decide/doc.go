// Package decide plugs the policy engine (package policy) into the gateway's pipeline: the
// decide stage (one evaluation of data.govgate.authz.decision per exchange, the
// agreement's quota), the release stage (label check, field cut and masks), the catalog,
// and the policy's admin endpoints (/policy, /policy/reload, /policy/eval) and metrics.
//
// It is named for the pipeline stage it supplies rather than for the engine, as
// net/http/httputil is named for what it does with net/http: the engine is package policy,
// this is how the gateway decides with it. The core (package gateway) never imports
// policy; the decision travels in gateway.Decision.Detail as a *policy.Decision, which
// this package and gateway/record read.
package decide
