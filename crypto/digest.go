package crypto

import (
	"crypto/hmac"
	"crypto/subtle"
	"hash"

	"github.com/emmansun/gmsm/sm3"
)

// DigestSize is the size of an SM3 digest in bytes.
const DigestSize = sm3.Size

// SM3 returns the SM3 digest of data.
func SM3(data []byte) [DigestSize]byte { return sm3.Sum(data) }

// NewSM3 returns a streaming SM3 hash.
func NewSM3() hash.Hash { return sm3.New() }

// HMACSM3 returns HMAC-SM3 of data under key.
func HMACSM3(key, data []byte) []byte {
	m := hmac.New(sm3.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// EqualMAC compares two MACs (or digests, or signatures) in constant time.
func EqualMAC(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}
