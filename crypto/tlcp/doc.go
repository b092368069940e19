// Package tlcp is the TLCP (GB/T 38636) listener and dialer, a hardened wrapper around
// tjfoc/gmsm's gmtls kept behind this package so that it can be replaced.
//
// Not built yet: see the national cryptography issue.
package tlcp
