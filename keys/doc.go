// Package keys is where govgate's keys live: named keys with numbered versions, in a
// file store (the default) or Vault KV v2; a Watcher notices new versions and hands them
// to whoever uses the key, which checks a version before it swaps it in. FileStamps tells
// the certificate sources which of their files an administrator replaced.
//
// A version's data is PEM: a private key, or a certificate chain with its key. The store
// does not interpret it; the user of a key does, and refuses a malformed version.
package keys
