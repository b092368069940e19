// Package audit is govgate's non-repudiable record of every exchange: an append-only log
// of canonical JSON records (RFC 8785), hashed into an RFC 6962 Merkle tree with SM3,
// made durable by group commit before a response leaves, with SM2-signed checkpoints in
// the C2SP tlog-checkpoint and signed-note formats, inclusion and consistency proofs from
// github.com/transparency-dev/merkle, and an offline verifier that needs nothing but the
// files and the audit public keys.
//
// Each record has a kind (kind.go: a data exchange, a catalog read, a refusal before
// routing, an admin action) whose members it must fit, and a format version: the log
// writes RecordVersion and every reader still reads the versions before it (parse.go).
// Report counts the data-sharing kinds for supervision (report.go). Export copies the log
// up to its latest checkpoint into a directory of the same layout that verifies, proves
// and reports alone (export.go).
//
// On disk, a log directory holds:
//
//	segments/<first index, 20 digits>.seg    records: 16-byte header, then frames of
//	                                          [u32 length][u32 CRC-32C][record]
//	segments/<first index>.start             the compact range at the segment's start
//	tree.hashes                              every perfect-subtree hash, 32 bytes each,
//	                                          in the order the tree completes them
//	tree.size                                how much of tree.hashes is durable
//	checkpoints                              signed checkpoints, framed like records
//	keys.json                                the audit public keys and their periods
package audit
