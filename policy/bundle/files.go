package bundle

import (
	"fmt"
	"os"
	"time"

	"github.com/govgate/govgate/crypto"
)

// SignFile signs the bundle file at path with the key and certificate (PEM, the
// certificate first then its chain) of a security officer and writes path + SignatureSuffix.
// The key file must not be readable by others (mode 0600 or stricter). The signature is
// checked to come from a security officer's certificate before it is written, so an
// officer learns at once, not when every gateway refuses it.
func SignFile(path, certFile, keyFile string, password []byte, now time.Time) (string, error) {
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
	sig, err := Sign(b, key, chain, now)
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
