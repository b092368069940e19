package wire

// The paths every data listener answers itself (not routed to a provider), under the
// well-known prefix of RFC 8615. Authenticated and audited like any exchange.
const (
	// WellKnownPrefix starts every path the gateway answers itself on a data listener.
	WellKnownPrefix = "/.well-known/govgate/"
	// PathCatalog is the catalog of the resources the caller may see.
	PathCatalog = WellKnownPrefix + "catalog"
	// PathCheckpoint is the audit log's latest signed checkpoint (a C2SP signed note), so
	// that a department can check its receipts without the admin API.
	PathCheckpoint = WellKnownPrefix + "checkpoint"
	// PathInclusionProof is the inclusion proof of one of the caller's own records:
	// ?index=N&size=M. Another department's record is answered exactly like a missing one.
	PathInclusionProof = WellKnownPrefix + "proof/inclusion"
)
