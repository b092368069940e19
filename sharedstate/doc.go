// Package sharedstate keeps the state a fleet of gateways must share in Redis: the nonce
// claims of signed requests (so that a request captured at one gateway is refused at
// every other), the quota counters of agreements (so that a department's quota is one
// for the fleet, not one per gateway) and the daily volumes of streamed transfers (rows
// and bytes released, counted once per released window).
//
// The client is github.com/redis/rueidis: its automatic pipelining sends the commands of
// concurrent requests together on one connection, so each request costs one round trip
// and no connection pool is sized by hand; one client speaks to a standalone server, a
// Cluster or a Sentinel-managed master; and scripts (rueidis.NewLuaScript) run by EVALSHA,
// falling back to EVAL once per server, so that each check-and-count is one atomic round
// trip.
//
// Every key carries the department as a Cluster hash tag ({dept}), so that a department's
// keys live on one shard (a script may touch them all) and departments spread over the
// shards. What each feature does while Redis cannot answer is the config's
// (shared.on_failure): refuse by default; Health reports it on /readyz, in metrics and in
// the log, once per transition. docs/architecture.md ("Shared state in Redis") is the
// contract.
package sharedstate
