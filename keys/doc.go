// Package keys is where govgate's keys live: named, versioned keys in a file store (the
// default) or in Vault KV v2, with rotation noticed and swapped in without a restart.
//
// Not built yet: see the keys and certificates issue.
package keys
