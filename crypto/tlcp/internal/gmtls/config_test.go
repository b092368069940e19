package gmtls

import (
	"net"
	"strings"
	"testing"
)

// gmtls verifies no chain and resumes no session: a client config that does not say it
// knows (InsecureSkipVerify, SessionTicketsDisabled) is refused before anything is sent,
// so no caller is left believing the fork checks the server for it.
func TestClientConfigMustDisclaimVerificationAndTickets(t *testing.T) {
	for name, cfg := range map[string]*Config{
		"verification assumed": {GMSupport: &GMSupport{}, SessionTicketsDisabled: true},
		"tickets assumed":      {GMSupport: &GMSupport{}, InsecureSkipVerify: true},
	} {
		a, b := net.Pipe()
		err := Client(a, cfg).Handshake()
		a.Close()
		b.Close()
		if err == nil || !strings.Contains(err.Error(), "gmtls") {
			t.Errorf("%s: %v, want the config refused", name, err)
		}
	}
}
