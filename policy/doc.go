// Package policy is govgate's OPA engine: it loads the Rego policies and the data security
// officers edit (catalog, agreements, departments, zones), compiles them, evaluates
// data.govgate.authz.decision once per exchange, reloads them live and explains decisions.
//
// Not built yet: see the policy issue. Until it lands the gateway runs without its decide
// and release stages and says so.
package policy
