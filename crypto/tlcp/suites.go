package tlcp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/govgate/govgate/crypto/tlcp/internal/gmtls"
)

// Suite is a TLCP cipher suite of GB/T 38636-2020 that govgate speaks.
type Suite uint16

// The suites, by the names GB/T 38636-2020 gives them (and ParseSuite reads).
const (
	ECDHE_SM4_GCM_SM3 Suite = Suite(gmtls.GMTLS_ECDHE_SM4_GCM_SM3)      // 0xE051
	ECC_SM4_GCM_SM3   Suite = Suite(gmtls.GMTLS_ECC_SM4_GCM_SM3)        // 0xE053
	ECDHE_SM4_CBC_SM3 Suite = Suite(gmtls.GMTLS_ECDHE_SM2_WITH_SM4_SM3) // 0xE011
	ECC_SM4_CBC_SM3   Suite = Suite(gmtls.GMTLS_SM2_WITH_SM4_SM3)       // 0xE013
)

// suiteNames is the one table of names and suites.
var suiteNames = []struct {
	name  string
	suite Suite
}{
	{"ECDHE_SM4_GCM_SM3", ECDHE_SM4_GCM_SM3},
	{"ECC_SM4_GCM_SM3", ECC_SM4_GCM_SM3},
	{"ECDHE_SM4_CBC_SM3", ECDHE_SM4_CBC_SM3},
	{"ECC_SM4_CBC_SM3", ECC_SM4_CBC_SM3},
}

// DefaultSuites is the preference order used when none is configured, most preferred
// first:
//
//   - forward secrecy first: with the ECDHE suites the pre-master secret comes from an SM2
//     key exchange with fresh ephemeral keys on both sides, so a recorded session cannot
//     be decrypted by whoever later obtains the gateway's (or the department's) long-lived
//     encryption key; with the ECC suites it is sent encrypted under that key;
//   - within each, GCM before CBC: SM4-GCM encrypts and authenticates in one parallel
//     pass (emmansun's SM4-GCM with carry-less-multiply GHASH), where CBC encrypts one block
//     after another and HMAC-SM3 is a second pass over every record; GCM also has no
//     padding, so no padding-oracle class of attack.
//
// Among the CBC suites, ECC_SM4_CBC_SM3 comes before ECDHE_SM4_CBC_SM3: tjfoc's gmtls
// client offers both at its defaults, but its "ECDHE" is plain ECDH on a NIST curve, not the
// SM2 key exchange of GB/T 38636, and fails on it. A department on tjfoc then still connects
// (over ECC_SM4_CBC_SM3) without changing its client; a client that offers only the
// ECDHE CBC suite still gets it. GmSSL 3.3's tlcp_client offers ECC_SM4_CBC_SM3 only.
func DefaultSuites() []Suite {
	return []Suite{ECDHE_SM4_GCM_SM3, ECC_SM4_GCM_SM3, ECC_SM4_CBC_SM3, ECDHE_SM4_CBC_SM3}
}

// String is the suite's standard name, or its number for one govgate does not speak.
func (s Suite) String() string {
	if name, ok := s.name(); ok {
		return name
	}
	return fmt.Sprintf("0x%04X", uint16(s))
}

func (s Suite) name() (string, bool) {
	for _, n := range suiteNames {
		if n.suite == s {
			return n.name, true
		}
	}
	return "", false
}

// ForwardSecret tells whether the suite agrees on keys with ephemeral SM2 keys (ECDHE);
// such a suite needs the client's encryption certificate and key.
func (s Suite) ForwardSecret() bool { return gmtls.IsECDHE(uint16(s)) }

// ParseSuite reads a suite's standard name (ECDHE_SM4_GCM_SM3, ECC_SM4_CBC_SM3, …; case
// and surrounding space do not matter).
func ParseSuite(name string) (Suite, error) {
	want := strings.ToUpper(strings.TrimSpace(name))
	for _, n := range suiteNames {
		if n.name == want {
			return n.suite, nil
		}
	}
	known := make([]string, len(suiteNames))
	for i, n := range suiteNames {
		known[i] = n.name
	}
	return 0, fmt.Errorf("unknown TLCP cipher suite %q (known: %s)", name, strings.Join(known, ", "))
}

// ParseSuites reads a preference order, most preferred first. An unknown or repeated
// name is refused; an empty list is DefaultSuites.
func ParseSuites(names []string) ([]Suite, error) {
	if len(names) == 0 {
		return DefaultSuites(), nil
	}
	out := make([]Suite, 0, len(names))
	for _, n := range names {
		s, err := ParseSuite(n)
		if err != nil {
			return nil, err
		}
		for _, seen := range out {
			if seen == s {
				return nil, fmt.Errorf("TLCP cipher suite %s listed twice", s)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// ParseSuiteList reads a comma-separated preference order (the form of the --suites flag).
func ParseSuiteList(list string) ([]Suite, error) {
	if strings.TrimSpace(list) == "" {
		return DefaultSuites(), nil
	}
	return ParseSuites(strings.Split(list, ","))
}

// suiteIDs checks a configured order and renders it for gmtls; nil is DefaultSuites.
func suiteIDs(suites []Suite) ([]uint16, error) {
	if suites == nil {
		suites = DefaultSuites()
	}
	if len(suites) == 0 {
		return nil, errors.New("tlcp: no cipher suite configured")
	}
	ids := make([]uint16, 0, len(suites))
	for _, s := range suites {
		if _, ok := s.name(); !ok {
			return nil, fmt.Errorf("tlcp: cipher suite %s is not one govgate speaks", s)
		}
		ids = append(ids, uint16(s))
	}
	return ids, nil
}
