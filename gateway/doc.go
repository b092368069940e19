// Package gateway is govgate's request path: the zone listeners, the route table, the
// pipeline of stages every exchange passes (authenticate, route, decide, forward, release,
// audit), the upstream pools with their health checks, the admin API and the metrics.
//
// The proxy itself knows nothing of SM2 request signatures, OPA or the audit log: each of
// those plugs in as a stage interface declared in stages.go, implemented by an adapter
// package — gateway/identity, gateway/decide, gateway/record — and put together with the
// transports and certificate sources by gateway/assemble. This package imports neither
// policy nor audit (TestImportsPointDown holds it to that). A stage that is not plugged in
// is reported as absent at start, in the log and on /readyz; nothing in this package
// pretends to do its work.
package gateway
