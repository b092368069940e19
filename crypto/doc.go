// Package crypto is govgate's national cryptography over emmansun/gmsm: SM2 keys, signers
// and verifiers, SM3 digests and HMAC, SM4-GCM, envelope encryption, and the RFC 9421
// request signature profile (sm2-sm3) of DESIGN.md.
//
// Not built yet: see the national cryptography issue.
package crypto
