// Package tlcp is the TLCP (GB/T 38636) listener and dialer: internal/gmtls, govgate's fork
// of github.com/tjfoc/gmsm's gmtls (the only TLCP stack the module proxy serves; the fork
// has emmansun's SM4 and SM3 in its record layer and fixes tjfoc's length checks), kept
// behind this package so that it can be replaced, and hardened because at its defaults it
// can be crashed before authentication.
//
// What this package changes: only ECC_SM4_CBC_SM3 is offered; session tickets are off;
// every call into gmtls recovers panics, so one peer never takes the process down; the
// handshake has a deadline and runs in the connection's goroutine, not in Accept; peer
// chains, key usages and CRLs are verified here with emmansun/gmsm rather than by gmtls;
// and private-key operations go to emmansun through crypto.Signer and crypto.Decrypter.
package tlcp
