// Package client is what a department links or runs to call the gateway: it dials TLCP
// with the department's SM2 certificate pair, verifies the gateway's certificate, signs
// each request with the RFC 9421 sm2-sm3 profile, keeps connections alive, and returns
// the response with its receipt. `govgate call` is this package on the command line.
package client
