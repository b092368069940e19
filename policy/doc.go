// Package policy is govgate's OPA engine: it loads the Rego policies and the data security
// officers edit (catalog, agreements, departments, zones, labels), compiles them in strict
// mode, runs their Rego tests before a revision goes live, evaluates
// data.govgate.authz.decision once per exchange, caches decisions soundly, reloads live and
// explains decisions.
//
// A Revision is one immutable compiled state of policy and data, named by an SM3 digest of
// its files; the Engine swaps revisions atomically, so that an exchange is decided entirely
// on one. The release rules (labels, field filtering, masking) and the per-agreement quotas
// live here too, since they apply what a Decision says.
//
// Uncached decisions take a fast path (fastpath.go, fastvm.go): the decision query as
// planned by OPA's planner, run in Go. A revision goes live only after a differential
// check (fastcheck.go) found the fast path deciding every generated input exactly as the
// full OPA evaluation does; whatever the fast path cannot decide, the full evaluation does.
package policy
