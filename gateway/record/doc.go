// Package record plugs the audit log (package audit) into the gateway's pipeline: the audit
// stage that makes each exchange's record durable before its answer leaves and returns
// the receipt, the audit endpoints of the admin API (checkpoint, proofs, records) and the
// log's metrics, group commit times among them.
//
// It is named for what it makes of an exchange — its record — as package decide is for
// the decision. The core (package gateway) never imports audit.
package record
