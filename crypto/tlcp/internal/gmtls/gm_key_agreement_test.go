package gmtls

import (
	"errors"
	"testing"
)

// The length checks upstream got wrong: a message too short for its length prefix is
// refused (upstream panicked on one byte), and the two-byte length is read as two bytes
// (upstream shifted a byte by 8, so only the low byte counted and 258 bytes passed as 2).
func TestClientKeyExchangeLength(t *testing.T) {
	ka := &eccKeyAgreementGM{}
	cert := &Certificate{} // no private key: a message past the length check fails there
	for name, msg := range map[string][]byte{
		"empty":                 nil,
		"one byte":              {0x00},
		"length says 2, has 0":  {0x00, 0x02},
		"length 258 read as 2":  append([]byte{0x01, 0x02}, make([]byte, 2)...),
		"length 2 with 258":     append([]byte{0x00, 0x02}, make([]byte, 258)...),
		"length 258, has 257":   append([]byte{0x01, 0x02}, make([]byte, 257)...),
		"length prefix only ff": {0xff, 0xff},
	} {
		_, err := ka.processClientKeyExchange(&Config{}, cert, &clientKeyExchangeMsg{ciphertext: msg}, VersionGMSSL)
		if !errors.Is(err, errClientKeyExchange) {
			t.Errorf("%s: %v, want the ClientKeyExchange refused for its length", name, err)
		}
	}
	// A length that matches gets past the check (and fails later, for want of a key).
	long := append([]byte{0x01, 0x02}, make([]byte, 258)...)
	if _, err := ka.processClientKeyExchange(&Config{}, cert, &clientKeyExchangeMsg{ciphertext: long}, VersionGMSSL); errors.Is(err, errClientKeyExchange) || err == nil {
		t.Errorf("a 258-byte ciphertext with its right length was refused for its length: %v", err)
	}
}

// The server's key-exchange signature length, likewise two bytes.
func TestServerKeyExchangeLength(t *testing.T) {
	ka := &eccKeyAgreementGM{}
	for name, key := range map[string][]byte{
		"two bytes":            {0x00, 0x00},
		"length 258 read as 2": append([]byte{0x01, 0x02}, make([]byte, 2)...),
	} {
		err := ka.processServerKeyExchange(&Config{}, nil, nil, nil, &serverKeyExchangeMsg{key: key})
		if !errors.Is(err, errServerKeyExchange) {
			t.Errorf("%s: %v, want it refused for its length", name, err)
		}
	}
}
