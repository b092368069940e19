package bundle

import (
	"fmt"
	"os"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/crypto"
)

// SignFile signs the bundle file at path, for the fleet named audience, with the key and
// certificate (PEM, the certificate first then its chain) of a security officer and writes
// path + SignatureSuffix. The key file must not be readable by others (mode 0600 or
// stricter). What every gateway would refuse is refused here first, so an officer learns
// at once: a certificate without the security-officer role, outside its validity period
// at now, or not for digital signatures, and a key that is not the certificate's.
func SignFile(path, certFile, keyFile, audience string, password []byte, now time.Time) (string, error) {
	if err := CheckAudience(audience); err != nil {
		return "", fmt.Errorf("sign bundle: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("sign bundle: %w", err)
	}
	if _, err := Read(b); err != nil {
		return "", fmt.Errorf("sign bundle %s: not a bundle govgate loads: %w", path, err)
	}
	info, err := os.Stat(keyFile)
	if err != nil {
		return "", fmt.Errorf("sign bundle: key: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("sign bundle: key %s has mode %o; a private key must be 0600", keyFile, info.Mode().Perm())
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return "", fmt.Errorf("sign bundle: key: %w", err)
	}
	key, err := crypto.ParsePrivateKeyPEM(keyPEM, password)
	if err != nil {
		return "", fmt.Errorf("sign bundle: key %s: %w", keyFile, err)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return "", fmt.Errorf("sign bundle: certificate: %w", err)
	}
	chain, err := crypto.ParseCertificatesPEM(certPEM)
	if err != nil {
		return "", fmt.Errorf("sign bundle: certificate %s: %w", certFile, err)
	}
	if len(chain) == 0 || !hasRole(chain[0], SignerRole) {
		return "", fmt.Errorf("sign bundle: certificate %s does not carry the role %s; gateways would refuse the bundle", certFile, SignerRole)
	}
	if err := checkSigningCert(chain[0], key, certFile, keyFile, now); err != nil {
		return "", err
	}
	sig, err := Sign(b, key, chain, audience, now)
	if err != nil {
		return "", err
	}
	out := path + SignatureSuffix
	if err := os.WriteFile(out+".tmp", sig, 0o644); err != nil {
		return "", fmt.Errorf("sign bundle: %w", err)
	}
	if err := os.Rename(out+".tmp", out); err != nil {
		return "", fmt.Errorf("sign bundle: %w", err)
	}
	return out, nil
}

// checkSigningCert refuses a certificate gateways would refuse at now (Verify's rules) and
// a key that is not the certificate's.
func checkSigningCert(c *crypto.Certificate, key *crypto.PrivateKey, certFile, keyFile string, now time.Time) error {
	const layout = time.RFC3339
	switch {
	case now.Before(c.NotBefore):
		return fmt.Errorf("sign bundle: certificate %s (serial %x) is not valid before %s (now %s)", certFile, c.SerialNumber, c.NotBefore.UTC().Format(layout), now.UTC().Format(layout))
	case now.After(c.NotAfter):
		return fmt.Errorf("sign bundle: certificate %s (serial %x) expired at %s (now %s)", certFile, c.SerialNumber, c.NotAfter.UTC().Format(layout), now.UTC().Format(layout))
	case c.KeyUsage != 0 && c.KeyUsage&smx509.KeyUsageDigitalSignature == 0:
		return fmt.Errorf("sign bundle: certificate %s (serial %x) is not for digital signatures (key usage lacks digitalSignature): an encryption certificate?", certFile, c.SerialNumber)
	}
	if pub, ok := c.PublicKey.(*crypto.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return fmt.Errorf("sign bundle: key %s is not the key of certificate %s (subject %s)", keyFile, certFile, c.Subject)
	}
	return nil
}
