// Package certs is the SM2 CA (issuance, revocation, CRLs), the certificate store with hot
// reload, and certmagic for standard TLS on the internet-facing side.
//
// Not built yet: see the keys and certificates issue.
package certs
