// Package ship is the audit shipper: it follows one gateway's audit log directory, checks
// what is new as `audit verify` would — each record's bytes and consumer signature, each
// checkpoint's signature, a consistency proof from the last checkpoint shipped to each new
// one, and the root of the records against the signed root — and inserts the records and
// checkpoints into the audit index (audit/index) in batches, each in one transaction with
// the shipper's progress, so that a shipper killed at any point resumes with no gap and no
// duplicate.
//
// Only records a verified checkpoint covers are shipped. What does not verify — a record
// changed, a checkpoint whose signature fails, a checkpoint inconsistent with one shipped
// before (a history rewritten), records shipped that changed on disk since — is refused
// loudly: an error log line, the govgate_audit_ship_alerts_total metric, a row in the
// alerts table; and the shipper stops advancing for that origin (ErrRefused).
package ship
