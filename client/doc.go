// Package client is what a department links or runs to call the gateway: TLCP dialing,
// request signing and receipt checking (govgate call).
//
// Not built yet: see the national cryptography issue.
package client
