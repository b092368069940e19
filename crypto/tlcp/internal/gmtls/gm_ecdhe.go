package gmtls

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/ecdh"
	"github.com/emmansun/gmsm/sm2"
	"github.com/tjfoc/gmsm/x509"
)

// TLCP's ECDHE suites (GB/T 38636-2020 §6.4.5.4, §6.4.5.8; ECDHE_SM4_CBC_SM3 0xE011,
// ECDHE_SM4_GCM_SM3 0xE051) agree on the pre-master secret with the SM2 key exchange
// protocol (GB/T 32918.3, GM/T 0003.3), not with plain ECDH:
//
//   - each side contributes its encryption key pair (the static key of the protocol:
//     the server's from its encryption certificate, the client's from the encryption
//     certificate it sends) and a fresh ephemeral key pair;
//   - the server is the initiator (A), the client the responder (B); both use the default
//     user ID 1234567812345678; the key length is 48 bytes, the pre-master secret;
//   - the optional confirmation hashes S1/S2 are not sent (the Finished messages confirm).
//
// This is how Tongsuo's NTLS (SM2_compute_key with initiator = server) and Trisia/gotlcp
// compute it. Because the client's encryption key takes part, an ECDHE client must send
// its encryption certificate: its Certificate message is signing certificate, encryption
// certificate, then the chain, where an ECC client sends its signing chain only.
//
// Wire forms (RFC 4492 §5.4 structures, as GB/T 38636 uses them):
//
//	ServerKeyExchange: ServerECDHEParams = curve_type(3 = named_curve) || NamedCurve(2)
//	                   || ECPoint<1..2^8-1> (04||X||Y), then signature<1..2^16-1>: SM2
//	                   (default ID) by the signing key over client_random ||
//	                   server_random || ServerECDHEParams.
//	ClientKeyExchange: ClientECDHEParams, the same structure with the client's ephemeral
//	                   point. Sent bare (69 bytes) as gotlcp does by default; read bare
//	                   or inside a 2-byte length vector (71 bytes), which the standard's
//	                   "opaque ClientECDHEParams<1..2^16-1>" can also be read as.
//
// The curve is implied by the suites (SM2); the NamedCurve value is written as 41
// (curveSM2, RFC 8998) and not checked on reading — the point must be on the SM2 curve
// whatever the value says.

// curveSM2 is RFC 8998's NamedCurve for SM2.
const curveSM2 = 41

const (
	ecdhePointLen  = 65                    // 04 || X || Y
	ecdheParamsLen = 3 + 1 + ecdhePointLen // curve_type, NamedCurve, point length, point
	preMasterLen   = 48
)

// ErrNoClientEncryptionCertificate is a server's refusal of an ECDHE client that did not
// send a usable encryption certificate after its signing certificate.
var ErrNoClientEncryptionCertificate = errors.New("tlcp: an ECDHE client must send its encryption certificate after its signing certificate")

var (
	errECDHEServerParams = errors.New("tlcp: malformed ECDHE ServerKeyExchange")
	errECDHEClientParams = errors.New("tlcp: malformed ECDHE ClientKeyExchange")
)

// SM2KeyAgreementKey is the private half of an SM2 encryption key pair as the SM2 key
// exchange uses it. emmansun's *ecdh.PrivateKey is one; crypto/tlcp passes its own so the
// key stays where it is kept.
type SM2KeyAgreementKey interface {
	// Public is the encryption public key (*ecdsa.PublicKey on the SM2 curve, or
	// *ecdh.PublicKey).
	Public() crypto.PublicKey
	// SM2MQV is emmansun's ecdh.PrivateKey.SM2MQV: the shared point U (or V) from this
	// static key, the local ephemeral key and the peer's static and ephemeral keys.
	SM2MQV(eLocal *ecdh.PrivateKey, sRemote, eRemote *ecdh.PublicKey) (*ecdh.PublicKey, error)
}

// EncryptionKeyHolder is a client Certificate's PrivateKey that also holds the client's
// encryption certificate and key, which the ECDHE suites need. A client whose
// PrivateKey is not one cannot use them.
type EncryptionKeyHolder interface {
	EncryptionCertificate() []byte // DER
	EncryptionKey() SM2KeyAgreementKey
}

// IsECDHE tells whether suite agrees on keys with SM2 ECDHE.
func IsECDHE(suite uint16) bool {
	return suite == GMTLS_ECDHE_SM2_WITH_SM4_SM3 || suite == GMTLS_ECDHE_SM4_GCM_SM3
}

// sm2ECDHEKeyAgreement is one handshake's ECDHE key agreement, on either side.
type sm2ECDHEKeyAgreement struct {
	local     SM2KeyAgreementKey // our encryption key
	ephemeral *ecdh.PrivateKey   // our ephemeral key
	peerEph   *ecdh.PublicKey    // the peer's ephemeral key
	peerEnc   *ecdh.PublicKey    // the client's encryption key (server side)
}

func sm2ECDHEKA(uint16) keyAgreement { return &sm2ECDHEKeyAgreement{} }

// encodeECDHEParams is the ECDHE params structure for pub.
func encodeECDHEParams(pub *ecdh.PublicKey) []byte {
	point := pub.Bytes()
	b := make([]byte, 0, ecdheParamsLen)
	b = append(b, 3, byte(curveSM2>>8), byte(curveSM2&0xff), byte(len(point)))
	return append(b, point...)
}

// decodeECDHEParams reads a params structure that must fill b exactly.
func decodeECDHEParams(b []byte) (*ecdh.PublicKey, error) {
	if len(b) != ecdheParamsLen || b[0] != 3 || int(b[3]) != ecdhePointLen {
		return nil, errors.New("not a named-curve SM2 point")
	}
	return ecdh.P256().NewPublicKey(b[4:]) // refuses points off the curve and infinity
}

// ecdhPublic converts the public key forms the fork meets (tjfoc's and emmansun's
// *ecdsa.PublicKey, *ecdh.PublicKey) to an SM2 ecdh.PublicKey.
func ecdhPublic(pub crypto.PublicKey) (*ecdh.PublicKey, error) {
	switch k := pub.(type) {
	case *ecdh.PublicKey:
		if k.Curve() != ecdh.P256() {
			return nil, errors.New("tlcp: not an SM2 public key")
		}
		return k, nil
	case *ecdsa.PublicKey:
		if k == nil || k.X == nil || k.Y == nil {
			return nil, errors.New("tlcp: empty public key")
		}
		if k.Curve.Params().Name != sm2.P256().Params().Name && k.Curve.Params().P.Cmp(sm2.P256().Params().P) != 0 {
			return nil, errors.New("tlcp: not an SM2 public key")
		}
		//lint:ignore SA1019 the curve is SM2's, which crypto/ecdh does not know.
		return ecdh.P256().NewPublicKey(elliptic.Marshal(sm2.P256(), k.X, k.Y))
	default:
		return nil, fmt.Errorf("tlcp: unsupported public key %T", pub)
	}
}

// preMaster runs the SM2 key exchange to its 48-byte key; the server is the initiator.
func (ka *sm2ECDHEKeyAgreement) preMaster(isServer bool, peerStatic *ecdh.PublicKey) ([]byte, error) {
	return sm2KeyExchange(!isServer, ka.local, ka.ephemeral, peerStatic, ka.peerEph, nil, nil, preMasterLen)
}

// sm2KeyExchange is GB/T 32918.3's key K from one side: U (or V) =
// [h·t](peer static + [x̄](peer ephemeral)), then KDF(x || y || Z_A || Z_B, keyLen) with
// Z_A the initiator's; nil IDs are the default ID.
func sm2KeyExchange(responder bool, local SM2KeyAgreementKey, eph *ecdh.PrivateKey, peerStatic, peerEph *ecdh.PublicKey, uid, peerUID []byte, keyLen int) ([]byte, error) {
	localStatic, err := ecdhPublic(local.Public())
	if err != nil {
		return nil, err
	}
	uv, err := local.SM2MQV(eph, peerStatic, peerEph)
	if err != nil {
		return nil, fmt.Errorf("tlcp: SM2 key exchange: %w", err)
	}
	return uv.SM2SharedKey(responder, keyLen, localStatic, peerStatic, uid, peerUID)
}

func (ka *sm2ECDHEKeyAgreement) signedParams(clientRandom, serverRandom, params []byte) []byte {
	tbs := make([]byte, 0, len(clientRandom)+len(serverRandom)+len(params))
	tbs = append(tbs, clientRandom...)
	tbs = append(tbs, serverRandom...)
	return append(tbs, params...)
}

// generateServerKeyExchange (server): a fresh ephemeral key, signed with the signing key.
func (ka *sm2ECDHEKeyAgreement) generateServerKeyExchange(config *Config, signCert, encCert *Certificate, clientHello *clientHelloMsg, hello *serverHelloMsg) (*serverKeyExchangeMsg, error) {
	local, ok := encCert.PrivateKey.(SM2KeyAgreementKey)
	if !ok {
		return nil, errors.New("tlcp: the encryption key cannot take part in an SM2 key exchange")
	}
	signer, ok := signCert.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("tlcp: the signing key does not implement crypto.Signer")
	}
	eph, err := ecdh.P256().GenerateKey(config.rand())
	if err != nil {
		return nil, err
	}
	ka.local, ka.ephemeral = local, eph
	params := encodeECDHEParams(eph.PublicKey())
	sig, err := signer.Sign(config.rand(), ka.signedParams(clientHello.random, hello.random, params), nil)
	if err != nil {
		return nil, fmt.Errorf("tlcp: sign the ECDHE parameters: %w", err)
	}
	skx := &serverKeyExchangeMsg{key: make([]byte, 0, len(params)+2+len(sig))}
	skx.key = append(skx.key, params...)
	skx.key = append(skx.key, byte(len(sig)>>8), byte(len(sig)))
	skx.key = append(skx.key, sig...)
	return skx, nil
}

// setClientCertificates (server) takes the client's encryption key from its Certificate
// message: ECDHE cannot run without it. crypto/tlcp verifies the certificate itself
// (chain, revocation, subject) in VerifyPeerCertificate.
func (ka *sm2ECDHEKeyAgreement) setClientCertificates(certs []*x509.Certificate) error {
	if len(certs) < 2 {
		return ErrNoClientEncryptionCertificate
	}
	enc := certs[1]
	if enc.IsCA || enc.KeyUsage&x509.KeyUsageDigitalSignature != 0 || enc.KeyUsage&(x509.KeyUsageKeyEncipherment|x509.KeyUsageKeyAgreement|x509.KeyUsageDataEncipherment) == 0 {
		return fmt.Errorf("%w (the second is not one: a CA, a signing key, or no encipherment usage)", ErrNoClientEncryptionCertificate)
	}
	pub, err := ecdhPublic(enc.PublicKey)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoClientEncryptionCertificate, err)
	}
	ka.peerEnc = pub
	return nil
}

// processClientKeyExchange (server): the client's ephemeral key, then the exchange.
func (ka *sm2ECDHEKeyAgreement) processClientKeyExchange(config *Config, encCert *Certificate, ckx *clientKeyExchangeMsg, version uint16) ([]byte, error) {
	if ka.ephemeral == nil || ka.peerEnc == nil {
		return nil, errors.New("tlcp: ECDHE ClientKeyExchange before the server's parameters or the client's encryption certificate")
	}
	b := ckx.ciphertext
	if len(b) == 2+ecdheParamsLen && int(b[0])<<8|int(b[1]) == ecdheParamsLen {
		b = b[2:]
	}
	peerEph, err := decodeECDHEParams(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errECDHEClientParams, err)
	}
	ka.peerEph = peerEph
	return ka.preMaster(true, ka.peerEnc)
}

// processServerKeyExchange (client): the server's ephemeral key, its signature checked
// with the server's signing certificate.
func (ka *sm2ECDHEKeyAgreement) processServerKeyExchange(config *Config, clientHello *clientHelloMsg, serverHello *serverHelloMsg, signCert *x509.Certificate, skx *serverKeyExchangeMsg) error {
	if len(skx.key) < ecdheParamsLen+2 {
		return errECDHEServerParams
	}
	params, rest := skx.key[:ecdheParamsLen], skx.key[ecdheParamsLen:]
	if int(rest[0])<<8|int(rest[1]) != len(rest)-2 || len(rest) == 2 {
		return errECDHEServerParams
	}
	peerEph, err := decodeECDHEParams(params)
	if err != nil {
		return fmt.Errorf("%w: %v", errECDHEServerParams, err)
	}
	ecPub, ok := signCert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return errors.New("tlcp: the server's signing certificate has no SM2 key")
	}
	pub, err := sm2.NewPublicKey(elliptic.Marshal(sm2.P256(), ecPub.X, ecPub.Y))
	if err != nil {
		return fmt.Errorf("tlcp: the server's signing key: %w", err)
	}
	if !sm2.VerifyASN1WithSM2(pub, nil, ka.signedParams(clientHello.random, serverHello.random, params), rest[2:]) {
		return errors.New("tlcp: the ECDHE ServerKeyExchange signature does not verify")
	}
	ka.peerEph = peerEph
	return nil
}

// generateClientKeyExchange (client): our ephemeral key and the exchange with the
// server's encryption key.
func (ka *sm2ECDHEKeyAgreement) generateClientKeyExchange(config *Config, clientHello *clientHelloMsg, serverEncCert *x509.Certificate) ([]byte, *clientKeyExchangeMsg, error) {
	if ka.peerEph == nil {
		return nil, nil, errors.New("tlcp: ECDHE without the server's ServerKeyExchange")
	}
	if ka.local == nil {
		return nil, nil, errors.New("tlcp: an ECDHE suite needs the client's encryption certificate and key, and the server did not ask for a certificate or the client has none")
	}
	serverEnc, err := ecdhPublic(serverEncCert.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("tlcp: server encryption certificate: %w", err)
	}
	eph, err := ecdh.P256().GenerateKey(config.rand())
	if err != nil {
		return nil, nil, err
	}
	ka.ephemeral = eph
	pre, err := ka.preMaster(false, serverEnc)
	if err != nil {
		return nil, nil, err
	}
	return pre, &clientKeyExchangeMsg{ciphertext: encodeECDHEParams(eph.PublicKey())}, nil
}

// clientCertificateList is what a client's Certificate message carries for suite: for
// ECDHE the signing certificate, the encryption certificate, then the chain; for ECC the
// signing certificate and its chain as given. For ECDHE it also hands the encryption
// key to the key agreement.
func clientCertificateList(ka keyAgreement, cert *Certificate) ([][]byte, error) {
	e, ok := ka.(*sm2ECDHEKeyAgreement)
	if !ok || cert == nil || len(cert.Certificate) == 0 {
		if cert == nil {
			return nil, nil
		}
		return cert.Certificate, nil
	}
	holder, ok := cert.PrivateKey.(EncryptionKeyHolder)
	if !ok || holder.EncryptionKey() == nil || len(holder.EncryptionCertificate()) == 0 {
		return nil, errors.New("tlcp: the ECDHE suite needs the client's encryption certificate and key")
	}
	e.local = holder.EncryptionKey()
	list := make([][]byte, 0, len(cert.Certificate)+1)
	list = append(list, cert.Certificate[0], holder.EncryptionCertificate())
	return append(list, cert.Certificate[1:]...), nil
}

// serverClientCertificates (server) gives an ECDHE key agreement the client's
// certificates; other key agreements need none.
func serverClientCertificates(ka keyAgreement, certs []*x509.Certificate) error {
	if e, ok := ka.(*sm2ECDHEKeyAgreement); ok {
		return e.setClientCertificates(certs)
	}
	return nil
}
