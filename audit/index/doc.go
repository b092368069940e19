// Package index is the audit index: the records and checkpoints of every gateway's audit
// log in PostgreSQL, so that supervision reports span gateways and years.
//
// It holds the schema and its migrations (migrations/*.sql, applied in order in one
// transaction, recorded in schema_migrations), the batch insert the shipper uses (a
// binary COPY of rows encoded in advance into records, then the check of the shipper's
// progress row, the daily and monthly roll-ups and the progress, in one transaction),
// the sharing reports in SQL
// (Report, the same rows as audit.Report over the same records), the re-verification of
// the indexed rows against their leaves and the signed checkpoints (Verify), and the
// retention that drops a month only after an export of it verifies (Retain).
//
// Records are partitioned by month of their time (UTC), partitions created on demand.
package index
