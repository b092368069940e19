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
package policy
