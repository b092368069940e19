package gmtls

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"io"
	"math/big"
	"testing"
	"time"

	"github.com/emmansun/gmsm/ecdh"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/tjfoc/gmsm/x509"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ecdhKey(t testing.TB, h string) *ecdh.PrivateKey {
	t.Helper()
	k, err := ecdh.P256().NewPrivateKey(unhex(t, h))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSM2KeyExchangeKnownAnswer runs sm2KeyExchange, the function the ECDHE suites derive
// their pre-master secret with, on published SM2 key-exchange vectors (GB/T 32918.3 on
// the SM2 curve, IDs "Alice" (initiator) and "Bob", 48-byte key; the vectors emmansun/gmsm
// publishes in ecdh/ecdh_test.go). Both roles must reach the vector's key: this pins which
// side's Z comes first and that the responder flag is the right way round. GM/T 0003.5's
// own example uses a test curve no Go SM2 library implements.
func TestSM2KeyExchangeKnownAnswer(t *testing.T) {
	vectors := []struct{ aStatic, aEph, bStatic, bEph, key string }{
		{"e04c3fd77408b56a648ad439f673511a2ae248def3bab26bdfc9cdbd0ae9607e", "6fe0bac5b09d3ab10f724638811c34464790520e4604e71e6cb0e5310623b5b1",
			"7a1136f60d2c5531447e5a3093078c2a505abf74f33aefed927ac0a5b27e7dd7", "d0233bdbb0b8a7bfe1aab66132ef06fc4efaedd5d5000692bc21185242a31f6f",
			"1ad809ebc56ddda532020c352e1e60b121ebeb7b4e632db4dd90a362cf844f8bba85140e30984ddb581199bf5a9dda22"},
		{"cb5ac204b38d0e5c9fc38a467075986754018f7dbb7cbbc5b4c78d56a88a8ad8", "1681a66c02b67fdadfc53cba9b417b9499d0159435c86bb8760c3a03ae157539",
			"4f54b10e0d8e9e2fe5cc79893e37fd0fd990762d1372197ed92dde464b2773ef", "a2fe43dea141e9acc88226eaba8908ad17e81376c92102cb8186e8fef61a8700",
			"7a103ae61a30ed9df573a5febb35a9609cbed5681bcb98a8545351bf7d6824cc4635df5203712ea506e2e3c4ec9b12e7"},
	}
	alice, bob := []byte("Alice"), []byte("Bob")
	for i, v := range vectors {
		aS, aE, bS, bE := ecdhKey(t, v.aStatic), ecdhKey(t, v.aEph), ecdhKey(t, v.bStatic), ecdhKey(t, v.bEph)
		initiator, err := sm2KeyExchange(false, aS, aE, bS.PublicKey(), bE.PublicKey(), alice, bob, 48)
		if err != nil {
			t.Fatal(err)
		}
		responder, err := sm2KeyExchange(true, bS, bE, aS.PublicKey(), aE.PublicKey(), bob, alice, 48)
		if err != nil {
			t.Fatal(err)
		}
		want := unhex(t, v.key)
		if !bytes.Equal(initiator, want) || !bytes.Equal(responder, want) {
			t.Errorf("vector %d: initiator %x, responder %x, want %x", i, initiator, responder, want)
		}
		// The wrong role for one side must not agree: the role matters.
		wrong, _ := sm2KeyExchange(false, bS, bE, aS.PublicKey(), aE.PublicKey(), bob, alice, 48)
		if bytes.Equal(wrong, want) {
			t.Errorf("vector %d: the responder reached the key in the initiator's role", i)
		}
	}
}

// TestSM2KeyExchangeMatchesMathBigImplementation: the pre-master secret the handshake's
// server derives (initiator, default IDs, 48 bytes, ecdh form) is the key emmansun's
// separate math/big implementation of GB/T 32918.3 (sm2.KeyExchange) derives as the
// responder, and the handshake's client (responder) reaches it too.
func TestSM2KeyExchangeMatchesMathBigImplementation(t *testing.T) {
	for range 3 {
		srv, _ := sm2.GenerateKey(rand.Reader)
		cli, _ := sm2.GenerateKey(rand.Reader)
		srvE, _ := srv.ECDH()
		cliE, _ := cli.ECDH()
		server := &sm2ECDHEKeyAgreement{local: srvE}
		server.ephemeral, _ = ecdh.P256().GenerateKey(rand.Reader)

		responder, err := sm2.NewKeyExchange(cli, &srv.PublicKey, nil, nil, 48, false)
		if err != nil {
			t.Fatal(err)
		}
		rA, _ := sm2.NewPublicKey(server.ephemeral.PublicKey().Bytes())
		rB, _, err := responder.RepondKeyExchange(rand.Reader, rA)
		if err != nil {
			t.Fatal(err)
		}
		want, err := responder.ConfirmInitiator(nil)
		if err != nil {
			t.Fatal(err)
		}
		if server.peerEph, err = ecdhPublic(rB); err != nil {
			t.Fatal(err)
		}
		got, err := server.preMaster(true, cliE.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) || len(got) != 48 {
			t.Fatalf("handshake server %x, math/big responder %x", got, want)
		}

		client := &sm2ECDHEKeyAgreement{local: cliE, peerEph: server.ephemeral.PublicKey()}
		client.ephemeral, _ = ecdh.P256().GenerateKey(rand.Reader)
		server.peerEph = client.ephemeral.PublicKey()
		a, _ := server.preMaster(true, cliE.PublicKey())
		b, err := client.preMaster(false, srvE.PublicKey())
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("handshake server %x, handshake client %x (%v)", a, b, err)
		}
	}
}

// The ECDHE parameters a peer sends are parsed strictly: exactly one named-curve point on
// the SM2 curve, and the server's signature over both randoms and the parameters.
func TestECDHEKeyExchangeMessagesRefused(t *testing.T) {
	signKey, _ := sm2.GenerateKey(rand.Reader)
	encKey, _ := sm2.GenerateKey(rand.Reader)
	encECDH, _ := encKey.ECDH()
	eph, _ := ecdh.P256().GenerateKey(rand.Reader)
	good := encodeECDHEParams(eph.PublicKey())
	offCurve := append([]byte{}, good...)
	offCurve[len(offCurve)-1] ^= 1
	compressed := append([]byte{3, 0, 41, 33, 2}, make([]byte, 32)...)

	server := &sm2ECDHEKeyAgreement{local: encECDH, peerEnc: encECDH.PublicKey()}
	server.ephemeral, _ = ecdh.P256().GenerateKey(rand.Reader)
	for name, ckx := range map[string][]byte{
		"empty":                       nil,
		"one byte":                    {3},
		"truncated":                   good[:40],
		"point off the curve":         offCurve,
		"compressed point":            compressed,
		"explicit curve":              append([]byte{1}, good[1:]...),
		"vector length lies":          append([]byte{0, 70}, good...),
		"trailing byte":               append(append([]byte{}, good...), 0),
		"point at infinity":           append([]byte{3, 0, 41, 1}, 0),
		"length byte says 64":         append([]byte{3, 0, 41, 64}, good[4:]...),
		"vector around a bad point":   append([]byte{0, byte(len(offCurve))}, offCurve...),
		"vector with a trailing byte": append(append([]byte{0, 69}, good...), 0),
	} {
		if _, err := server.processClientKeyExchange(&Config{}, nil, &clientKeyExchangeMsg{ciphertext: ckx}, VersionGMSSL); !errors.Is(err, errECDHEClientParams) {
			t.Errorf("ClientKeyExchange %s: %v, want it refused as malformed", name, err)
		}
	}
	for name, ckx := range map[string][]byte{"bare": good, "in a vector": append([]byte{0, 69}, good...)} {
		if _, err := server.processClientKeyExchange(&Config{}, nil, &clientKeyExchangeMsg{ciphertext: ckx}, VersionGMSSL); err != nil {
			t.Errorf("ClientKeyExchange %s refused: %v", name, err)
		}
	}

	// ServerKeyExchange, checked with the signing certificate.
	ca := selfSigned(t, signKey)
	cr, sr := make([]byte, 32), make([]byte, 32)
	rand.Read(cr)
	rand.Read(sr)
	srv := &sm2ECDHEKeyAgreement{}
	skx, err := srv.generateServerKeyExchange(&Config{}, &Certificate{PrivateKey: sm2Signer{signKey}}, &Certificate{PrivateKey: encECDH},
		&clientHelloMsg{random: cr}, &serverHelloMsg{random: sr})
	if err != nil {
		t.Fatal(err)
	}
	check := func(key []byte, clientRandom []byte) error {
		return (&sm2ECDHEKeyAgreement{}).processServerKeyExchange(&Config{}, &clientHelloMsg{random: clientRandom}, &serverHelloMsg{random: sr}, ca, &serverKeyExchangeMsg{key: key})
	}
	if err := check(skx.key, cr); err != nil {
		t.Fatalf("the server's own ServerKeyExchange: %v", err)
	}
	flipped := append([]byte{}, skx.key...)
	flipped[10] ^= 1 // inside the point: off the curve or a different point
	sigFlipped := append([]byte{}, skx.key...)
	sigFlipped[len(sigFlipped)-3] ^= 1
	for name, c := range map[string]struct {
		key, cr []byte
	}{
		"another ClientHello's random": {skx.key, sr},
		"point changed":                {flipped, cr},
		"signature changed":            {sigFlipped, cr},
		"no signature":                 {skx.key[:ecdheParamsLen+2], cr},
		"truncated":                    {skx.key[:ecdheParamsLen], cr},
		"signature length lies":        {append(append([]byte{}, skx.key...), 0), cr},
		"empty":                        {nil, cr},
	} {
		if err := check(c.key, c.cr); err == nil {
			t.Errorf("ServerKeyExchange %s: accepted", name)
		}
	}
}

// An ECDHE server takes the client's key from the second certificate only when it is an
// encryption certificate.
func TestECDHEClientCertificatesRefused(t *testing.T) {
	k, _ := sm2.GenerateKey(rand.Reader)
	mk := func(usage smx509.KeyUsage, isCA bool) *x509.Certificate {
		c := certWith(t, k, usage, isCA)
		return c
	}
	sign := mk(smx509.KeyUsageDigitalSignature, false)
	enc := mk(smx509.KeyUsageKeyEncipherment|smx509.KeyUsageDataEncipherment, false)
	ca := mk(smx509.KeyUsageCertSign|smx509.KeyUsageCRLSign, true)
	both := mk(smx509.KeyUsageDigitalSignature|smx509.KeyUsageKeyEncipherment, false)
	for name, certs := range map[string][]*x509.Certificate{
		"signing only":    {sign},
		"signing then CA": {sign, ca},
		"signing twice":   {sign, sign},
		"dual-use second": {sign, both},
	} {
		ka := &sm2ECDHEKeyAgreement{}
		if err := ka.setClientCertificates(certs); !errors.Is(err, ErrNoClientEncryptionCertificate) {
			t.Errorf("%s: %v, want ErrNoClientEncryptionCertificate", name, err)
		}
	}
	ka := &sm2ECDHEKeyAgreement{}
	if err := ka.setClientCertificates([]*x509.Certificate{sign, enc, ca}); err != nil || ka.peerEnc == nil {
		t.Errorf("signing, encryption, CA refused: %v", err)
	}
}

// FuzzECDHEKeyExchange feeds both ECDHE key-exchange parsers arbitrary peer bytes: they
// may refuse, never panic.
func FuzzECDHEKeyExchange(f *testing.F) {
	eph, _ := ecdh.P256().GenerateKey(rand.Reader)
	good := encodeECDHEParams(eph.PublicKey())
	f.Add(good)
	f.Add(append([]byte{0, 69}, good...))
	f.Add(append(append([]byte{}, good...), 0, 2, 0x30, 0))
	encKey, _ := sm2.GenerateKey(rand.Reader)
	encECDH, _ := encKey.ECDH()
	ca := selfSigned(f, encKey)
	f.Fuzz(func(t *testing.T, b []byte) {
		srv := &sm2ECDHEKeyAgreement{local: encECDH, peerEnc: encECDH.PublicKey(), ephemeral: eph}
		srv.processClientKeyExchange(&Config{}, nil, &clientKeyExchangeMsg{ciphertext: b}, VersionGMSSL)
		(&sm2ECDHEKeyAgreement{}).processServerKeyExchange(&Config{}, &clientHelloMsg{random: make([]byte, 32)}, &serverHelloMsg{random: make([]byte, 32)}, ca, &serverKeyExchangeMsg{key: b})
	})
}

// sm2Signer signs as crypto/tlcp's signer does: the message itself, default user ID.
type sm2Signer struct{ key *sm2.PrivateKey }

func (s sm2Signer) Public() crypto.PublicKey { return &s.key.PublicKey }
func (s sm2Signer) Sign(r io.Reader, msg []byte, _ crypto.SignerOpts) ([]byte, error) {
	return s.key.Sign(r, msg, sm2.DefaultSM2SignerOpts)
}

// certWith is a self-signed certificate for key with the given usage, as tjfoc parses it.
func certWith(t testing.TB, key *sm2.PrivateKey, usage smx509.KeyUsage, isCA bool) *x509.Certificate {
	t.Helper()
	tmpl := &smx509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: usage, IsCA: isCA, BasicConstraintsValid: true}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func selfSigned(t testing.TB, key *sm2.PrivateKey) *x509.Certificate {
	return certWith(t, key, smx509.KeyUsageDigitalSignature, false)
}
