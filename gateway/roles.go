package gateway

import (
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto/tlcp"
)

// Role is an administrator role (三员分立: security officer, cryptography administrator,
// auditor — and the operator who runs the machine). A certificate carries its role as the
// SAN URI urn:govgate:role:<role>.
type Role string

// The roles of the admin API.
const (
	RoleSecurityOfficer Role = "security-officer"
	RoleCryptoAdmin     Role = "crypto-admin"
	RoleAuditor         Role = "auditor"
	RoleOperator        Role = "operator"
)

// DeptURIPrefix is the SAN URI prefix that carries a department code.
const DeptURIPrefix = "urn:govgate:dept:"

// DeptOf is the department a certificate's URI SANs name (the first urn:govgate:dept:).
func DeptOf(uris []string) string {
	for _, s := range uris {
		if dept, ok := strings.CutPrefix(s, DeptURIPrefix); ok {
			return dept
		}
	}
	return ""
}

// RoleURIPrefix starts the SAN URI that names a certificate's administrator role.
const RoleURIPrefix = "urn:govgate:role:"

// rolesOf returns the roles a verified certificate carries.
func rolesOf(p *tlcp.PeerCertificates) []Role {
	var out []Role
	for _, u := range p.Sign.URIs {
		if r, ok := strings.CutPrefix(u.String(), RoleURIPrefix); ok {
			out = append(out, Role(r))
		}
	}
	return out
}

// adminCaller is who is calling the admin API, when it speaks TLCP.
type adminCaller struct {
	peer  *tlcp.PeerCertificates
	roles []Role
}

func (c *adminCaller) has(r Role) bool {
	for _, have := range c.roles {
		if have == r {
			return true
		}
	}
	return false
}

// authorizeAdmin checks that the caller holds the role an endpoint needs. Without TLCP on
// the admin listener there is no caller to check: the API is then loopback-only, for
// development, and the gateway said so at start.
func (g *Gateway) authorizeAdmin(ctx *fasthttp.RequestCtx, need Role) (*adminCaller, *Error) {
	if !g.adminRoles {
		return nil, nil
	}
	conn, ok := ctx.Conn().(*tlcp.Conn)
	if !ok || conn.Peer() == nil {
		return nil, Errorf(fasthttp.StatusUnauthorized, "no_client_certificate", "the admin API requires an administrator certificate")
	}
	// An administrator revoked (or whose CA left the trust store) while its connection is
	// open loses the API at its next request, as a department does (revocation.go).
	peer, err := TrustedPeer(conn, time.Now())
	if err != nil {
		return nil, stageError(StageAuthenticate, err)
	}
	c := &adminCaller{peer: peer, roles: rolesOf(peer)}
	if !c.has(need) {
		return c, Errorf(fasthttp.StatusForbidden, "role_required", "this endpoint is for the %s role; the certificate carries %v", need, c.roles)
	}
	return c, nil
}
