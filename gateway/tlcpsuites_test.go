package gateway

import (
	"strings"
	"testing"
)

// tlcp.cipher_suites: the standard names in any order are accepted; an unknown name, a
// repeated one or a TLS suite is refused naming the field, so a typo never silently
// leaves the listener on the default order.
func TestConfigCipherSuites(t *testing.T) {
	for _, ok := range [][]string{nil, {"ECC_SM4_CBC_SM3"}, {"ecc_sm4_gcm_sm3", "ECDHE_SM4_GCM_SM3"}} {
		cfg := testConfig("127.0.0.1:1")
		cfg.TLCP.CipherSuites = ok
		if err := cfg.Validate(); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range [][]string{{"ECDHE_SM4_GCM"}, {"TLS_AES_128_GCM_SHA256"}, {"ECC_SM4_CBC_SM3", "ECC_SM4_CBC_SM3"}} {
		cfg := testConfig("127.0.0.1:1")
		cfg.TLCP.CipherSuites = bad
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "tlcp.cipher_suites") {
			t.Errorf("%q: %v, want it refused naming tlcp.cipher_suites", bad, err)
		}
	}
}
