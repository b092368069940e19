// Package fleet looks at every gateway of a fleet through its admin API and says where
// they diverge: the policy revision each runs and who signed it (GET /policy), the TLCP
// certificates each holds (GET /certs), its key-store keys and the versions in use (GET
// /keys), its audit log and latest signed checkpoint with its time (GET /audit/checkpoint,
// /metrics), its readiness and shared-state health (GET /readyz) and shared-state config
// (GET /config). It reads; it changes nothing.
package fleet
