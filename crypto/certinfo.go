package crypto

import "time"

// CertInfo is one certificate a part of the gateway holds (the TLCP pair source, the TLS
// transport), as GET /certs lists it and the expiry metric counts it. It is declared here
// because both certificate sources — crypto/tlcp and certs — describe what they hold with
// it, and neither may import the other.
type CertInfo struct {
	Role     string    `json:"role"` // tlcp-sign, tlcp-enc, client-ca
	Subject  string    `json:"subject"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"not_after"`
	DaysLeft int       `json:"days_left"`
}
