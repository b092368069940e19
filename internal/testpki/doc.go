// Package testpki makes, for tests, the standard (ECDSA P-256) CA that a tls listener's
// clients chain to, with govgate's identity profile (the department as SAN URI
// urn:govgate:dept:<code>, the system as CN), its files written as an administrator
// leaves them. The gateway's end-to-end tests and the assembly's share it.
package testpki
