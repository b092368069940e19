// Package crypto is govgate's national cryptography, a small typed API over
// github.com/emmansun/gmsm (constant-time, assembly-optimised): SM2 keys with PEM and
// PKCS#8 (plain and password-encrypted) encodings; SM2 signers and verifiers with the
// default user ID and ASN.1 signatures; SM3 digests and HMAC-SM3; SM4-GCM; SM2+SM4
// envelope encryption as GM/T 0010 EnvelopedData (key-transport identifier selectable,
// see SealOptions); and the RFC 9421 request signature profile (sm2-sm3) of DESIGN.md.
//
// Callers use these types rather than gmsm directly, so that one package decides the
// parameters (user ID, encodings, cipher modes) every part of govgate agrees on.
package crypto
