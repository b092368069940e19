// Package gateway is govgate's request path: the zone listeners, the route table, the
// pipeline of stages every exchange passes (authenticate, route, decide, forward, release,
// audit), the upstream pools with their health checks, the admin API and the metrics.
//
// The proxy itself knows nothing of SM2, OPA or the audit log: each of those plugs in as a
// stage interface declared in stages.go. A stage that is not plugged in is reported as
// absent at start, in the log and on /readyz; nothing in this package pretends to do its
// work.
package gateway
