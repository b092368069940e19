/*Copyright Suzhou Tongji Fintech Research Institute 2017 All Rights Reserved.
Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

	http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package gmtls

import (
	"crypto"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"net"

	"github.com/tjfoc/gmsm/x509"
)

// VersionTLS10 is the version a record carries before TLCP's is negotiated: the alerts a
// server sends in answer to a ClientHello it refuses (upstream's choice, kept on the wire).
const VersionTLS10 = 0x0301

const (
	maxPlaintext      = 16384        // maximum plaintext payload length
	maxCiphertext     = 16384 + 2048 // maximum ciphertext payload length
	recordHeaderLen   = 5            // record header length
	maxHandshake      = 65536        // maximum handshake we support (protocol max is 16 MB)
	maxWarnAlertCount = 5            // maximum number of consecutive warning alerts
)

// TLS record types.
type recordType uint8

const (
	recordTypeChangeCipherSpec recordType = 20
	recordTypeAlert            recordType = 21
	recordTypeHandshake        recordType = 22
	recordTypeApplicationData  recordType = 23
)

// TLS handshake message types.
const (
	typeClientHello        uint8 = 1
	typeServerHello        uint8 = 2
	typeCertificate        uint8 = 11
	typeServerKeyExchange  uint8 = 12
	typeCertificateRequest uint8 = 13
	typeServerHelloDone    uint8 = 14
	typeCertificateVerify  uint8 = 15
	typeClientKeyExchange  uint8 = 16
	typeFinished           uint8 = 20
)

// TLS compression types.
const (
	compressionNone uint8 = 0
)

// TLS extension numbers
const (
	extensionServerName          uint16 = 0
	extensionStatusRequest       uint16 = 5
	extensionSupportedCurves     uint16 = 10
	extensionSupportedPoints     uint16 = 11
	extensionSignatureAlgorithms uint16 = 13
	extensionALPN                uint16 = 16
	extensionSCT                 uint16 = 18 // https://tools.ietf.org/html/rfc6962#section-6
	extensionSessionTicket       uint16 = 35
	extensionNextProtoNeg        uint16 = 13172 // not IANA assigned
	extensionRenegotiationInfo   uint16 = 0xff01
)

// TLS signaling cipher suite values
const (
	scsvRenegotiation uint16 = 0x00ff
)

// CurveID is the type of a TLS identifier for an elliptic curve. See
// https://www.iana.org/assignments/tls-parameters/tls-parameters.xml#tls-parameters-8
type CurveID uint16

const (
	CurveP256 CurveID = 23
	CurveP384 CurveID = 24
	CurveP521 CurveID = 25
	X25519    CurveID = 29
)

// TLS CertificateStatusType (RFC 3546), for parsing the status_request extension.
const (
	statusTypeOCSP uint8 = 1
)

// Certificate types (for certificateRequestMsg)
const (
	certTypeRSASign   = 1  // A certificate containing an RSA key
	certTypeECDSASign = 64 // A certificate containing an ECDSA-capable public key, signed with ECDSA.
)

// Signature algorithms (for internal signaling use), upstream's values: distinct from
// TLS 1.2 codepoints (RFC 5246, section A.4.1), with which these have nothing to do.
const (
	signatureECDSA uint8 = 17
	signatureSM2   uint8 = 19
)

// ConnectionState records basic TLCP details about the connection.
type ConnectionState struct {
	Version           uint16              // VersionGMSSL once the handshake is complete
	HandshakeComplete bool                // TLCP handshake is complete
	CipherSuite       uint16              // cipher suite in use
	ServerName        string              // server name requested by client, if any (server side only)
	PeerCertificates  []*x509.Certificate // certificates presented by the peer (cleared by ReleaseHandshakeState)
	ClientVerify      ClientVerifyForm    // server side: what the client's CertificateVerify signed
}

// ClientAuthType declares the policy the server will follow for
// TLS Client Authentication. gmtls verifies no chain itself: VerifyPeerCertificate does.
type ClientAuthType int

const (
	NoClientCert ClientAuthType = iota
	RequestClientCert
	RequireAnyClientCert
)

// SignatureScheme identifies a signature algorithm supported by TLS. See
// https://tools.ietf.org/html/draft-ietf-tls-tls13-18#section-4.2.3.
type SignatureScheme uint16

const (
	ECDSAWithSHA1 SignatureScheme = 0x0203
	SM2WITHSM3    SignatureScheme = 0x0204
)

// ClientHelloInfo contains information from a ClientHello message in order to
// guide certificate selection in the GetConfigForClient callback.
type ClientHelloInfo struct {
	// CipherSuites lists the CipherSuites supported by the client.
	CipherSuites []uint16

	// ServerName indicates the name of the server requested by the client
	// in order to support virtual hosting. ServerName is only set if the
	// client is using SNI (see
	// https://tools.ietf.org/html/rfc4366#section-3.1).
	ServerName string

	// SupportedCurves lists the elliptic curves supported by the client.
	// SupportedCurves is set only if the Supported Elliptic Curves
	// Extension is being used (see
	// https://tools.ietf.org/html/rfc4492#section-5.1.1).
	SupportedCurves []CurveID

	// SupportedPoints lists the point formats supported by the client.
	// SupportedPoints is set only if the Supported Point Formats Extension
	// is being used (see
	// https://tools.ietf.org/html/rfc4492#section-5.1.2).
	SupportedPoints []uint8

	// SignatureSchemes lists the signature and hash schemes that the client
	// is willing to verify. SignatureSchemes is set only if the Signature
	// Algorithms Extension is being used (see
	// https://tools.ietf.org/html/rfc5246#section-7.4.1.4.1).
	SignatureSchemes []SignatureScheme

	// SupportedProtos lists the application protocols supported by the client.
	SupportedProtos []string

	// SupportedVersions lists the versions supported by the client: TLCP's.
	SupportedVersions []uint16

	// Conn is the underlying net.Conn for the connection. Do not read
	// from, or write to, this connection; that will cause the TLS
	// connection to fail.
	Conn net.Conn
}

// CertificateRequestInfo contains information from a server's
// CertificateRequest message, which is used to demand a certificate and proof
// of control from a client.
type CertificateRequestInfo struct {
	// AcceptableCAs contains zero or more, DER-encoded, X.501
	// Distinguished Names. These are the names of root or intermediate CAs
	// that the server wishes the returned certificate to be signed by. An
	// empty slice indicates that the server has no preference.
	AcceptableCAs [][]byte
}

// A Config structure is used to configure a TLCP client or server.
// After one has been passed to a gmtls function it must not be
// modified. A Config may be reused; gmtls will also not modify it.
type Config struct {
	// GMSupport must be set (upstream's switch to TLCP; gmtls speaks nothing else).
	GMSupport *GMSupport

	// Rand provides the source of entropy for nonces and key exchange.
	// If Rand is nil, gmtls uses the cryptographic random reader in package
	// crypto/rand.
	// The Reader must be safe for use by multiple goroutines.
	Rand io.Reader

	// Certificates are a server's signing and encryption certificates, in that order,
	// each with its key (GB/T 38636 sends both; their chain follows the second).
	Certificates []Certificate

	// GetClientCertificate, if not nil, is called when a server requests a
	// certificate from a client; without it the client sends no certificate.
	//
	// If GetClientCertificate returns an error, the handshake will be
	// aborted and that error will be returned. Otherwise
	// GetClientCertificate must return a non-nil Certificate. If
	// Certificate.Certificate is empty then no certificate will be sent to
	// the server. If this is unacceptable to the server then it may abort
	// the handshake.
	GetClientCertificate func(*CertificateRequestInfo) (*Certificate, error)

	// GetConfigForClient, if not nil, is called after a ClientHello is
	// received from a client. It may return a non-nil Config in order to
	// change the Config that will be used to handle this connection. If
	// the returned Config is nil, the original Config will be used. The
	// Config returned by this callback may not be subsequently modified.
	GetConfigForClient func(*ClientHelloInfo) (*Config, error)

	// VerifyPeerCertificate, if not nil, is called with the raw ASN.1
	// certificates the peer sent; if it returns a non-nil error, the handshake is
	// aborted with bad_certificate. gmtls verifies no chain itself, so it is where the
	// peer is verified, and verifiedChains is always nil.
	VerifyPeerCertificate func(rawCerts [][]byte, verifiedChains [][]*x509.Certificate) error

	// ClientAuth determines the server's policy for
	// TLS Client Authentication. The default is NoClientCert.
	ClientAuth ClientAuthType

	// ClientCANames is the certificate_authorities list a server's CertificateRequest
	// carries — DER-encoded X.501 distinguished names; it plays no part in verification.
	// govgate: added, so that the list names the CAs crypto/tlcp verifies against
	// without tjfoc parsing them.
	ClientCANames [][]byte

	// AcceptRawTranscriptVerify makes a server accept, besides GB/T 38636's SM2 signature
	// over SM3(handshake messages), a client CertificateVerify signed over the handshake
	// messages themselves, as GmSSL 3.x clients sign. Both bind the same transcript to the
	// same key. govgate: added (issue 13, item 2).
	AcceptRawTranscriptVerify bool

	// CertificateVerifyInput, when set on a client, chooses what its CertificateVerify
	// signs, given the handshake messages so far and their SM3 digest (which it signs by
	// default, as GB/T 38636). For tests that sign as GmSSL does (the messages) or sign
	// the wrong thing. govgate: added.
	CertificateVerifyInput func(transcript, digest []byte) []byte

	// InsecureSkipVerify must be true on a client: gmtls does not verify the server's
	// chain, the caller does (VerifyPeerCertificate or after the handshake). A client
	// config without it is refused, so that no caller believes otherwise.
	InsecureSkipVerify bool

	// CipherSuites is a list of supported cipher suites. If CipherSuites
	// is nil, the TLCP suites gmtls implements are used.
	CipherSuites []uint16

	// PreferServerCipherSuites controls whether the server selects the
	// client's most preferred ciphersuite, or the server's most preferred
	// ciphersuite. If true then the server's preference, as expressed in
	// the order of elements in CipherSuites, is used.
	PreferServerCipherSuites bool

	// SessionTicketsDisabled must be true on a client: gmtls has no session tickets
	// and no resumption (a client config without it is refused).
	SessionTicketsDisabled bool

	// Blocks, when set, lends connections made with this Config their record buffers
	// while they have a record in hand (govgate); read when the connection is made.
	Blocks *BlockPool

	// DynamicRecordSizingDisabled disables adaptive sizing of TLS records.
	// When true, the largest possible TLS record size is always used. When
	// false, the size of TLS records may be adjusted in an attempt to
	// improve latency.
	DynamicRecordSizingDisabled bool
}

func (c *Config) rand() io.Reader {
	r := c.Rand
	if r == nil {
		return rand.Reader
	}
	return r
}

// A Certificate is a chain of one or more certificates, leaf first.
type Certificate struct {
	Certificate [][]byte
	// PrivateKey contains the private key corresponding to the public key of the
	// first certificate: a crypto.Signer for a signing certificate, a crypto.Decrypter
	// for an encryption certificate.
	PrivateKey crypto.PrivateKey
}

type handshakeMessage interface {
	marshal() []byte
	unmarshal([]byte) bool
}

type ecdsaSignature struct {
	R, S *big.Int
}

func unexpectedMessageError(wanted, got interface{}) error {
	return fmt.Errorf("tls: received unexpected handshake message of type %T when waiting for %T", got, wanted)
}
