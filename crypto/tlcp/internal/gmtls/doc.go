// Package gmtls is govgate's fork of the TLCP (GB/T 38636, GM/T 0024) and TLS stack in
// github.com/tjfoc/gmsm v1.4.1's gmtls, the only TLCP implementation the module proxy
// serves. It is used only through crypto/tlcp, which hardens it (one cipher suite, no
// tickets, panics recovered, handshake deadlines, chains verified with emmansun/gmsm).
//
// Changes from upstream, each marked "govgate:" where it is not obvious:
//   - the record layer's SM4-CBC and HMAC-SM3, and the handshake's SM3, are
//     emmansun/gmsm's: tjfoc's are 2–4× slower on 1 KiB records and its SM3 keeps a copy
//     of each write (loadtest/bench: TLCP row CPU per request −15 %);
//   - application data is no longer split into a 1-byte record and the rest (the TLS 1.0
//     CBC countermeasure, applied upstream because 0x0101 compares below TLS 1.0): TLCP
//     records carry an explicit IV; one record and one socket write per response, not two;
//   - ClientKeyExchange and ServerKeyExchange length checks: upstream shifted a byte by 8
//     (so lengths were compared mod 256) and indexed a one-byte message (a panic);
//   - ReleaseHandshakeState drops the parsed peer certificates and the handshake buffer
//     once crypto/tlcp has verified the peer (about 5 KB a connection);
//   - handshake errors are no longer printed to standard output;
//   - Config.ClientCANames: the certificate_authorities a server's CertificateRequest
//     lists (DER names, in place of ClientCAs' subjects; not used to verify), so that
//     crypto/tlcp names its trust store's CAs — upstream sent an empty list, on which
//     GmSSL's client aborts;
//   - the CA certificates built into the library (disabled upstream) are gone;
//   - the single_cert build variant is gone (govgate always sends two certificates), and
//     so is what nothing here calls: the key-pair loaders, Dial/Listen, the LRU session
//     cache, the message equality helpers of upstream's tests;
//   - gofmt.
//
// Licences: tjfoc's code is Apache-2.0 (LICENSE); files derived from Go's crypto/tls carry
// Go's BSD licence (LICENSE.golang).
package gmtls
