package tlcp

import (
	stdx509 "crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/crypto/tlcp/internal/gmtls"
)

// Why a peer was refused, as a small fixed set an operator can alert on: a metric label,
// never free text.
const (
	ReasonRevoked        = "revoked"         // a certificate's serial is on a CRL
	ReasonUntrusted      = "untrusted"       // no chain to a configured CA
	ReasonExpired        = "expired"         // a certificate of the chain is outside its validity
	ReasonBadCertificate = "bad_certificate" // unparsable, wrong key usage, pair subjects differ
	ReasonNoCertificate  = "no_certificate"  // the client sent none
	ReasonBadSignature   = "bad_signature"   // CertificateVerify does not verify with the certificate's key
	ReasonTimeout        = "timeout"         // not completed within the handshake timeout
	ReasonClosed         = "closed"          // the peer closed or reset the connection mid-handshake
	ReasonPanic          = "panic"           // gmtls panicked on the peer's input (recovered)
	ReasonProtocol       = "protocol"        // anything else: not TLCP, bad records, alerts
)

// HandshakeReasons lists every reason, in the order metrics render them.
func HandshakeReasons() []string {
	return []string{ReasonRevoked, ReasonUntrusted, ReasonExpired, ReasonBadCertificate, ReasonNoCertificate,
		ReasonBadSignature, ReasonTimeout, ReasonClosed, ReasonPanic, ReasonProtocol}
}

// CertError is a peer certificate refused by verification, with the reason and, when it
// parsed, the signing certificate — so that a refusal can name the department and serial.
type CertError struct {
	Reason string
	Cert   *smx509.Certificate
	Err    error
}

func (e *CertError) Error() string { return e.Err.Error() }
func (e *CertError) Unwrap() error { return e.Err }

func certError(reason string, cert *smx509.Certificate, err error) *CertError {
	return &CertError{Reason: reason, Cert: cert, Err: err}
}

// chainReason tells why smx509 refused a chain.
func chainReason(err error) string {
	var unknown smx509.UnknownAuthorityError
	var invalid stdx509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return ReasonUntrusted
	case errors.As(err, &invalid) && invalid.Reason == stdx509.Expired:
		return ReasonExpired
	default:
		return ReasonBadCertificate
	}
}

// HandshakeFailure is one refused or broken server-side handshake.
type HandshakeFailure struct {
	Reason string
	Remote net.Addr
	// Cert is the client's signing certificate when it sent one that parsed (nil for
	// protocol failures and clients that sent none).
	Cert *smx509.Certificate
	Err  error
}

// errGmtlsPanic marks a handshake that ended in a recovered gmtls panic.
var errGmtlsPanic = errors.New("peer sent input gmtls could not handle")

// classifyHandshake maps a handshake error to its reason. gmtls reports a missing
// certificate and a bad CertificateVerify only as text, so those two are matched on it.
func classifyHandshake(err error) (string, *smx509.Certificate) {
	var ce *CertError
	var timeout interface{ Timeout() bool }
	switch {
	case errors.As(err, &ce):
		return ce.Reason, ce.Cert
	case errors.Is(err, errGmtlsPanic):
		return ReasonPanic, nil
	case errors.Is(err, gmtls.ErrNoClientEncryptionCertificate):
		return ReasonBadCertificate, nil
	case errors.As(err, &timeout) && timeout.Timeout():
		return ReasonTimeout, nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return ReasonClosed, nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "didn't provide a certificate"):
		return ReasonNoCertificate, nil
	case strings.Contains(msg, "could not validate signature"):
		return ReasonBadSignature, nil
	}
	return ReasonProtocol, nil
}
