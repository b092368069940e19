package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/crypto/tlcp"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/wire"
)

// PeerAuthenticator is the authenticate stage for tlcp listeners: the department comes
// from the verified signing certificate, and a request signature, when present, must
// verify with that certificate's key. A connection without a verified certificate never
// reaches routing. The signature's nonce is claimed in Replay, and given back if the
// exchange is refused before it is forwarded (replay.go).
type PeerAuthenticator struct {
	Signatures *crypto.RequestVerifier
	// Replay remembers claimed nonces: the in-process cache by default; a store shared by
	// a fleet of gateways plugs in here.
	Replay crypto.ReplayStore
	Now    func() time.Time
	// TLSTrust, when set, verifies a standard TLS peer again at each request against the
	// CA set and CRL in force, so that revocation reaches open connections on tls
	// listeners as it does on tlcp ones.
	TLSTrust TLSPeerChecker
}

// TLSPeerChecker verifies again, at a request, the certificate chain a standard TLS peer
// presented at its handshake, against the CA set and CRL in force (certs.TLSTransport);
// nil is a peer that still passes.
type TLSPeerChecker interface {
	CheckPeer(peer []*x509.Certificate, now time.Time) *certs.PeerRefusal
}

// now is the authenticator's clock, the system's when it has none.
func (a *PeerAuthenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// NewPeerAuthenticator returns the stage with the given clock skew and replay cache bound,
// and the defaults of SignaturePolicy otherwise.
func NewPeerAuthenticator(skew time.Duration, maxNonces int) *PeerAuthenticator {
	return NewPeerAuthenticatorWith(gateway.SignaturePolicy{Skew: skew, MaxNonces: maxNonces})
}

// Authenticate implements gateway.Authenticator.
func (a *PeerAuthenticator) Authenticate(ctx *fasthttp.RequestCtx, x *gateway.Exchange) error {
	if tc, ok := ctx.Conn().(*tls.Conn); ok {
		return a.authenticateTLS(ctx, x, tc)
	}
	conn, ok := ctx.Conn().(*tlcp.Conn)
	if !ok {
		return gateway.Errorf(fasthttp.StatusUnauthorized, "no_client_certificate", "this listener requires a TLCP client certificate")
	}
	peer, err := gateway.TrustedPeer(conn, a.now())
	if err != nil {
		return err
	}
	dept := gateway.DeptOf(peer.SignURIs)
	if dept == "" {
		return gateway.Errorf(fasthttp.StatusForbidden, "no_department", "the certificate carries no %s<code> URI", gateway.DeptURIPrefix)
	}
	x.Identity = gateway.Identity{
		Dept:       dept,
		System:     peer.Sign.Subject.CommonName,
		CertSerial: peer.SerialHex,
		Issuer:     peer.Sign.Issuer.CommonName,
		Auth:       "tlcp",
	}
	h := &ctx.Request.Header
	if err := refuseRepeatedSignatureFields(h); err != nil {
		return err
	}
	if len(h.Peek(wire.HeaderSignature)) == 0 && len(h.Peek(wire.HeaderSignatureInput)) == 0 {
		return nil
	}
	return a.verifySignature(ctx, x, peer.Sign)
}

// refuseRepeatedSignatureFields refuses Signature, Signature-Input or Content-Digest sent
// on several lines (any case: the server's header names are normalised) or with several
// members, signed or not: one reading is verified and recorded, and the provider must not
// be handed another.
func refuseRepeatedSignatureFields(h *fasthttp.RequestHeader) error {
	for _, name := range [...]string{wire.HeaderSignature, wire.HeaderSignatureInput, wire.HeaderContentDigest} {
		var se *crypto.SignatureError
		if err := crypto.CheckSingleField(name, h.PeekAll(name)); errors.As(err, &se) {
			return signatureRefusal(se)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// signatureRefusal is the answer to a refused signature: 400 for a repeated field (the
// request is malformed), 503 when the replay cache has no room, 401 otherwise.
func signatureRefusal(se *crypto.SignatureError) *gateway.Error {
	status := fasthttp.StatusUnauthorized
	switch se.Code {
	case crypto.SigRepeated:
		status = fasthttp.StatusBadRequest
	case crypto.SigReplayFull:
		status = fasthttp.StatusServiceUnavailable
	}
	return gateway.Errorf(status, se.Code, "%s", se.Reason)
}

// authenticateTLS reads the identity of a standard mutual-TLS peer: its certificate was
// verified in the handshake (CAs, CRL); the department and system come from it as from an
// SM2 certificate. SM2 request signatures cannot verify with an ECDSA or RSA key, so a
// signed request on a tls listener is refused rather than half-checked.
func (a *PeerAuthenticator) authenticateTLS(ctx *fasthttp.RequestCtx, x *gateway.Exchange, tc *tls.Conn) error {
	st := tc.ConnectionState()
	if len(st.PeerCertificates) == 0 {
		return gateway.Errorf(fasthttp.StatusUnauthorized, "no_client_certificate", "the TLS handshake did not verify a client certificate")
	}
	if a.TLSTrust != nil {
		if r := a.TLSTrust.CheckPeer(st.PeerCertificates, a.now()); r != nil {
			// Closed after this answer: the refusal is for the connection, not the request.
			gateway.CloseAfterAnswer(ctx)
			return gateway.Errorf(fasthttp.StatusUnauthorized, r.Code, "%s", r.Message).WithCause(r.Err)
		}
	}
	c := st.PeerCertificates[0]
	uris := make([]string, len(c.URIs))
	for i, u := range c.URIs {
		uris[i] = u.String()
	}
	dept := gateway.DeptOf(uris)
	if dept == "" {
		return gateway.Errorf(fasthttp.StatusForbidden, "no_department", "the certificate carries no %s<code> URI", gateway.DeptURIPrefix)
	}
	x.Identity = gateway.Identity{Dept: dept, System: c.Subject.CommonName, CertSerial: c.SerialNumber.Text(16), Issuer: c.Issuer.CommonName, Auth: "tls"}
	h := &ctx.Request.Header
	if err := refuseRepeatedSignatureFields(h); err != nil {
		return err
	}
	if len(h.Peek(wire.HeaderSignature)) > 0 || len(h.Peek(wire.HeaderSignatureInput)) > 0 {
		return gateway.Errorf(fasthttp.StatusUnauthorized, "signature_unsupported", "SM2 request signatures need an SM2 certificate: call over TLCP to sign")
	}
	return nil
}

func (a *PeerAuthenticator) verifySignature(ctx *fasthttp.RequestCtx, x *gateway.Exchange, cert *smx509.Certificate) error {
	msg := signatureMessage(ctx, x)
	var pub *crypto.PublicKey
	keys := func(keyID string) (*crypto.PublicKey, error) {
		if keyID != x.Identity.CertSerial {
			return nil, fmt.Errorf("keyid %s is not the serial of the presented signing certificate", keyID)
		}
		var err error
		pub, err = crypto.SM2PublicKey(cert)
		return pub, err
	}
	var p *crypto.ParsedSignature
	var err error
	if x.Upload != nil {
		// The body has not arrived: the signature is verified over the Content-Digest it
		// declares, before anything is forwarded, and the gateway compares the body with
		// that digest as it passes (gateway/streamupload.go).
		var declared []byte
		if p, declared, err = a.Signatures.CheckStreamed(msg, a.Now(), keys); err == nil {
			x.Upload.Declared = declared
		}
	} else {
		p, err = a.Signatures.Check(msg, ctx.Request.Body(), a.Now(), keys)
	}
	if err != nil {
		if se, ok := err.(*crypto.SignatureError); ok {
			return signatureRefusal(se)
		}
		return err
	}
	x.Identity.Signed = true
	h := &ctx.Request.Header
	// Each field was checked to be one line of one member: what is recorded here is
	// exactly what was verified.
	x.Signature = gateway.SignatureEvidence{
		Input:     string(h.Peek(wire.HeaderSignatureInput)),
		Signature: string(h.Peek(wire.HeaderSignature)),
		Base:      p.Base,
		PublicKey: audit.PublicKeyHex(pub),
		Claim:     a.Signatures.ClaimOf(x.Identity.Dept, p),
	}
	// Only a verified signature claims a nonce, so that forgeries cannot fill the cache.
	return a.claim(ctx, x)
}

// signatureMessage presents the request to the signature verifier. The declared
// agreement and purpose come from the exchange: the X-Govgate-* fields are stripped before
// any stage runs. A declaration the request did not carry is absent, not empty.
func signatureMessage(ctx *fasthttp.RequestCtx, x *gateway.Exchange) *crypto.Message {
	h := &ctx.Request.Header
	// The target may be in absolute form (admitted only when its authority is Host):
	// RequestMessage takes its path, which is also what is forwarded and recorded.
	return wire.RequestMessage(string(h.Method()), string(h.Host()), string(h.RequestURI()), func(name string) []string {
		switch name {
		case wire.FieldAgreement:
			return declared(x.Agreement, x.AgreementSent)
		case wire.FieldPurpose:
			return declared(x.Purpose, x.PurposeSent)
		}
		var out []string
		for _, v := range h.PeekAll(name) {
			out = append(out, string(v))
		}
		return out
	})
}

// declared is a declaration field as the request carried it: absent when it was not sent,
// so that a signature covering it is refused (RFC 9421 §2.5) unless the verifier accepts
// the earlier form, and the empty value when it was sent empty.
func declared(v []byte, sent bool) []string {
	if !sent {
		return nil
	}
	return []string{string(v)}
}
