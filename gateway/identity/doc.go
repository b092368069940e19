// Package identity is the authenticate stage of the gateway's tlcp and tls listeners:
// the department and system from the peer's verified certificate (TLCP, or standard
// mutual TLS held to the CA set and CRL in force), SM2 request signatures (RFC 9421 with
// SM2/SM3) checked against the signing certificate's key, and the replay window — nonces
// claimed before routing, given back when an exchange reaches no provider, rebuilt from the
// audit log's tail at start.
package identity
