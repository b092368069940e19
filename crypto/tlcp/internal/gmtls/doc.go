// Package gmtls is govgate's fork of the TLCP (GB/T 38636, GM/T 0024) and TLS stack in
// github.com/tjfoc/gmsm v1.4.1's gmtls, the only TLCP implementation the module proxy
// serves. It is used only through crypto/tlcp, which hardens it (TLCP suites only, no
// tickets, panics recovered, handshake deadlines, chains verified with emmansun/gmsm).
//
// Changes from upstream, each marked "govgate:" where it is not obvious:
//   - the GB/T 38636-2020 suites upstream lacked or could not run: ECDHE_SM4_CBC_SM3
//     (0xE011; upstream's ECDHE server panicked and its client did plain ECDH on a NIST
//     curve), ECDHE_SM4_GCM_SM3 (0xE051) and ECC_SM4_GCM_SM3 (0xE053). ECDHE is the SM2 key
//     exchange (gm_ecdhe.go: server initiator, default IDs, 48-byte pre-master secret,
//     ServerKeyExchange signed over both randoms and the parameters, ClientKeyExchange
//     read bare or as a vector), in place of upstream's ecdheKeyAgreementGM (removed). GCM is
//     emmansun's SM4-GCM with a 4-byte implicit and 8-byte explicit nonce (gm_aead.go),
//     through the record layer's existing AEAD path;
//   - the client's Certificate message depends on the suite (clientCertificateList):
//     signing certificate and chain for ECC, signing, encryption, chain for ECDHE (the
//     encryption pair comes from an EncryptionKeyHolder private key); a server running
//     ECDHE refuses (bad_certificate, ErrNoClientEncryptionCertificate) a client whose
//     second certificate is not an encryption certificate;
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
