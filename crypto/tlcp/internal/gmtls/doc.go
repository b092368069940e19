// Package gmtls is govgate's fork of the TLCP stack (GB/T 38636, GM/T 0024) in
// github.com/tjfoc/gmsm v1.4.1's gmtls, the only TLCP implementation the module proxy
// serves. It is used only through crypto/tlcp, which hardens it (its cipher suites, panics
// recovered, handshake deadlines, chains verified with emmansun/gmsm).
//
// Changes from upstream, each marked "govgate:" where it is not obvious:
//   - TLCP only (issue 13, item 5): what never ran under crypto/tlcp's configuration is
//     gone — Go's standard TLS client and server handshakes, the TLCP/TLS auto-switch
//     server, RSA and standard-ECDHE key agreement, session tickets and resumption,
//     renegotiation, the non-SM cipher suites (RC4, 3DES, AES, ChaCha20) with their MACs
//     and the SSL 3.0/TLS 1.0/TLS 1.2 PRFs and Finished hashes, version negotiation,
//     NPN/ALPN, OCSP stapling and SCTs, exported keying material, the key log, SNI
//     certificate selection, and tjfoc's own chain verification on both sides. Source
//     (tests and this file aside): 9,791 lines before, 4,664 after. Measured with
//     go test -coverprofile over crypto/tlcp/... and the gateway's TLCP tests: every
//     function removed was at 0 %. Kept then, at 0 %, for the suites below: the TLS 1.2
//     AEAD record layer (explicit nonce), which the GCM suites now use; tjfoc's ECDHE_SM2
//     agreement, its helpers (auth.go, key_agreement.go's hashes and curves) and
//     fixedNonceAEAD, since removed: gm_ecdhe.go and gm_aead.go replace them;
//   - the server answers a ClientHello of any version from TLCP's up with TLCP's (upstream
//     answered with the client's TLS version, then ran TLCP's suite under TLS 1.2's PRF)
//     and refuses a lower one with protocol_version;
//   - a client Config must set InsecureSkipVerify and SessionTicketsDisabled, saying it
//     knows that gmtls verifies no chain (VerifyPeerCertificate does; verifiedChains is
//     always nil) and resumes nothing; a post-handshake handshake message is answered with
//     no_renegotiation on both sides;
//   - the client no longer dereferences a nil key when a server certificate's is not ECDSA;
//   - a server verifies the client's CertificateVerify with emmansun's SM2 (upstream: tjfoc's)
//     and, with Config.AcceptRawTranscriptVerify, also in GmSSL 3.x's form — SM2 over the
//     handshake messages rather than over their SM3 — reporting which form it was in
//     ConnectionState.ClientVerify; Config.CertificateVerifyInput lets a test client sign
//     either form, or the wrong thing (issue 13, item 2);
//   - the GB/T 38636-2020 suites upstream lacked or could not run: ECDHE_SM4_CBC_SM3
//     (0xE011; upstream's ECDHE server panicked and its client did plain ECDH on a NIST
//     curve), ECDHE_SM4_GCM_SM3 (0xE051) and ECC_SM4_GCM_SM3 (0xE053). ECDHE is the SM2 key
//     exchange (gm_ecdhe.go: server initiator, default IDs, 48-byte pre-master secret,
//     ServerKeyExchange signed over both randoms and the parameters, ClientKeyExchange
//     read bare or as a vector), in place of upstream's ecdheKeyAgreementGM (removed).
//     GCM is emmansun's SM4-GCM with a 4-byte implicit and 8-byte explicit nonce
//     (gm_aead.go), through the record layer's AEAD path;
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
//     lists (DER names; not used to verify), so that crypto/tlcp names its trust store's
//     CAs — upstream sent an empty list, on which GmSSL's client aborts;
//   - the CA certificates built into the library (disabled upstream) are gone;
//   - the single_cert build variant is gone (govgate always sends two certificates), and
//     so is what nothing here calls: the key-pair loaders, Dial/Listen, the LRU session
//     cache, the message equality helpers of upstream's tests;
//   - gofmt.
//
// Licences: tjfoc's code is Apache-2.0 (LICENSE); files derived from Go's crypto/tls carry
// Go's BSD licence (LICENSE.golang).
package gmtls
