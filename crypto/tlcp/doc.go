// Package tlcp is the TLCP (GB/T 38636-2020) listener and dialer: internal/gmtls, govgate's
// fork of github.com/tjfoc/gmsm's gmtls (the only TLCP stack the module proxy serves; the
// fork has emmansun's SM4 and SM3 in its record layer, fixes tjfoc's length checks and adds
// the ECDHE and GCM suites), kept behind this package so that it can be replaced, and
// hardened because at its defaults it can be crashed before authentication.
//
// Suites: ECDHE_SM4_GCM_SM3, ECC_SM4_GCM_SM3, ECDHE_SM4_CBC_SM3 and ECC_SM4_CBC_SM3, in a
// configured preference order (Suite, ParseSuites, DefaultSuites — forward-secret GCM
// first, the reasons on DefaultSuites); the listener's order decides. The ECDHE suites
// derive the pre-master secret with the SM2 key exchange (GB/T 32918.3) between both
// sides' encryption keys and fresh ephemeral keys, so the client sends its encryption
// certificate; the GCM suites protect records with SM4-GCM as TLS 1.2 does with AES-GCM.
//
// The client's Certificate message (GB/T 38636-2020): for the ECC suites the signing
// certificate and its chain — what GmSSL's server reads, and GmSSL's client sends; for the
// ECDHE suites the signing certificate, the encryption certificate, then the chain, the
// order of the server's own message. The listener accepts, for the ECC suites, either
// form (signing, encryption, chain is what govgate sent before); for the ECDHE suites the
// second certificate must be a verified encryption certificate of the same subject.
//
// What else this package changes: session tickets are off; every call into gmtls recovers
// panics, so one peer never takes the process down; the handshake has a deadline and runs
// in the connection's goroutine, not in Accept; peer chains, key usages and CRLs are
// verified here with emmansun/gmsm rather than by gmtls; and private-key operations
// (signing, decrypting the ECC pre-master secret, the SM2 key exchange) go to emmansun
// through crypto.Signer, crypto.Decrypter and gmtls.SM2KeyAgreementKey.
package tlcp
