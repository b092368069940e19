// Package certs is the SM2 CA: it issues department and gateway certificate pairs
// (signing and encryption) to the profile of DESIGN.md, and SM2-signed CRLs.
//
// Revocation lists, the certificate store with hot reload and certmagic for standard TLS
// are the keys and certificates issue's; what is here is what TLCP and the demo need.
package certs
