package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/govgate/govgate/certs"
)

const caPassHelp = "environment variable holding the CA key's password (the key is written encrypted when set)"

func envPassword(name string) []byte {
	if name == "" {
		return nil
	}
	return []byte(os.Getenv(name))
}

func caCmd() *cobra.Command {
	return group("ca", "create the SM2 CA: a root, or an intermediate (cryptography administrators)",
		`Commands for cryptography administrators (密码管理员).
What the CA issues and revokes is under govgate certs: issue, list, revoke, crl, rotate.`,
		caInitCmd())
}

func caInitCmd() *cobra.Command {
	return leaf("init --dir DIR", "create the SM2 CA in a new directory: a root, or an intermediate (--parent DIR)", noArgs, func(fs *pflag.FlagSet) runFunc {
		dir := fs.String("dir", "", "directory of the new CA (must be empty or absent)")
		name := fs.String("name", "govgate SM2 CA", "the CA certificate's common name")
		org := fs.String("org", "govgate", "the CA certificate's organisation")
		valid := validityFlag(fs, "valid", 3650*day, "validity of the CA certificate")
		parent := fs.String("parent", "", "directory of an existing CA that signs this one (an intermediate); empty makes a root")
		parentPass := fs.String("parent-pass-env", "", "environment variable holding the parent CA key's password")
		passEnv := fs.String("pass-env", "", caPassHelp)
		return func(_ context.Context, _ []string, stdout, _ io.Writer) error {
			if *dir == "" {
				return usageErrorf("--dir is required")
			}
			var p *certs.Dir
			if *parent != "" {
				var err error
				if p, err = certs.OpenDir(*parent, envPassword(*parentPass)); err != nil {
					return err
				}
			}
			d, err := certs.InitDir(*dir, *name, *org, *valid, p, envPassword(*passEnv))
			if err != nil {
				return err
			}
			kind := "root"
			if p != nil {
				kind = "intermediate of " + p.CA.Cert.Subject.CommonName
			}
			fmt.Fprintf(stdout, "SM2 CA %q (%s) in %s; serial %s; valid for %s, until %s\n", *name, kind, *dir, d.CA.Cert.SerialNumber.Text(16), formatValidity(*valid), d.CA.Cert.NotAfter.UTC().Format(time.RFC3339))
			return nil
		}
	})
}

func certsCmd() *cobra.Command {
	return group("certs", "issue, list, revoke certificates, publish the CRL, rotate the gateway's pair",
		"Commands for cryptography administrators (密码管理员); each names the CA with --ca DIR.",
		certsIssueCmd(), certsListCmd(), certsRevokeCmd(), certsCRLCmd(), certsRotateCmd())
}

type caFlags struct{ dir, passEnv *string }

func addCAFlags(fs *pflag.FlagSet) caFlags {
	return caFlags{dir: fs.String("ca", "", "the CA directory (govgate ca init)"), passEnv: fs.String("ca-pass-env", "", "environment variable holding the CA key's password")}
}

func (c caFlags) open() (*certs.Dir, error) { return certs.OpenDir(*c.dir, envPassword(*c.passEnv)) }

func certsIssueCmd() *cobra.Command {
	return leaf("issue --ca DIR --dept CODE --system NAME --out DIR", "a signing and an encryption certificate for a department's system (or the gateway)", noArgs, func(fs *pflag.FlagSet) runFunc {
		ca := addCAFlags(fs)
		dept := fs.String("dept", "", "department code, into the SAN URI urn:govgate:dept:<code> (empty for a gateway)")
		system := fs.String("system", "", "the calling system's name, the certificates' CN")
		server := fs.Bool("server", false, "a server pair (serverAuth), e.g. for a gateway")
		dns := fs.String("dns", "", "comma-separated DNS names, for a server pair")
		roles := fs.String("role", "", "comma-separated administrator roles for the admin API (security-officer, crypto-admin, auditor, operator), into SAN URIs urn:govgate:role:<role>")
		valid := validityFlag(fs, "valid", 365*day, "validity")
		out := fs.String("out", "", "directory to write <name>-{sign,enc}-{cert,chain,fullchain}.pem and <name>-{sign,enc}.key into")
		name := fs.String("name", "", "file name prefix (default: the system name)")
		force := fs.Bool("force", false, "replace the files of an earlier pair with the same name in --out (their private keys are lost)")
		keyPass := fs.String("key-pass-env", "", "environment variable holding a password to encrypt the keys with (PKCS#8 PBES2, SM4-CBC, PBKDF2-HMAC-SM3: the form GmSSL loads); plain when unset")
		return func(_ context.Context, _ []string, stdout, _ io.Writer) error {
			if *ca.dir == "" || *system == "" || *out == "" {
				return usageErrorf("--ca, --system and --out are required")
			}
			// Checked before anything is issued: a pair recorded but never written helps no one.
			password := envPassword(*keyPass)
			if *keyPass != "" && len(password) == 0 {
				return fmt.Errorf("--key-pass-env %s: the variable is empty or unset", *keyPass)
			}
			prefix := *name
			if prefix == "" {
				prefix = *system
			}
			// Checked before anything is issued, like the password: keys of a pair in use are
			// not replaced behind the administrator's back.
			if existing := certs.ExistingPairFiles(*out, prefix); len(existing) > 0 && !*force {
				return fmt.Errorf("%d files of a pair named %q already exist: %s; choose another --name or --out, or replace them (and their private keys) with --force", len(existing), prefix, strings.Join(existing, ", "))
			}
			d, err := ca.open()
			if err != nil {
				return err
			}
			req := certs.PairRequest{Dept: *dept, System: *system, Server: *server, ValidFor: *valid}
			if *dns != "" {
				req.DNSNames = strings.Split(*dns, ",")
			}
			if *roles != "" {
				for _, r := range strings.Split(*roles, ",") {
					switch r {
					case "security-officer", "crypto-admin", "auditor", "operator":
					default:
						return usageErrorf("--role %q: want security-officer, crypto-admin, auditor or operator", r)
					}
					req.Roles = append(req.Roles, r)
				}
			}
			p, err := d.Issue(req)
			if err != nil {
				return err
			}
			if err := d.WritePairFiles(*out, prefix, p, password); err != nil {
				return err
			}
			if p.SignCert.NotAfter.Equal(d.CA.Cert.NotAfter) {
				fmt.Fprintf(stdout, "note: cut to the CA's own expiry, %s, short of the %s asked for\n", d.CA.Cert.NotAfter.UTC().Format(time.RFC3339), formatValidity(*valid))
			}
			fmt.Fprintf(stdout, "issued %s: sign %s, enc %s, valid for %s, until %s; in %s: %s-{sign,enc}-fullchain.pem (certificate and chain, for sign_cert/enc_cert and --cert), -cert.pem, -chain.pem, .key\n",
				*system, p.SignCert.SerialNumber.Text(16), p.EncCert.SerialNumber.Text(16), formatValidity(*valid), p.SignCert.NotAfter.UTC().Format(time.RFC3339), *out, prefix)
			return nil
		}
	})
}

func certsListCmd() *cobra.Command {
	return leaf("list --ca DIR", "the certificates the CA issued, with expiry and revocation", noArgs, func(fs *pflag.FlagSet) runFunc {
		ca := addCAFlags(fs)
		asJSON := fs.Bool("json", false, jsonHelp)
		return func(_ context.Context, _ []string, stdout, _ io.Writer) error {
			if *ca.dir == "" {
				return usageErrorf("--ca is required")
			}
			return certsList(ca, *asJSON, stdout)
		}
	})
}

func certsList(ca caFlags, asJSON bool, stdout io.Writer) error {
	d, err := ca.open()
	if err != nil {
		return err
	}
	issued, err := d.List()
	if err != nil {
		return err
	}
	revs, err := d.Revocations()
	if err != nil {
		return err
	}
	revoked := map[string]string{}
	for _, r := range revs {
		revoked[r.Serial] = r.Reason
	}
	if asJSON {
		list := make([]certJSON, 0, len(issued))
		for _, c := range issued {
			reason, rev := revoked[c.Serial]
			list = append(list, certJSON{Issued: c, DaysLeft: daysLeft(c.NotAfter), Revoked: rev, Reason: reason})
		}
		return writeJSON(stdout, list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "serial\tdept\tsystem\tuse\tnot_after\tdays_left\trevoked")
	for _, c := range issued {
		dept := c.Dept
		if dept == "" {
			dept = "-"
		}
		rev := revoked[c.Serial]
		if rev == "" {
			rev = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", c.Serial, dept, c.System, c.Use, c.NotAfter.Format(time.RFC3339), daysLeft(c.NotAfter), rev)
	}
	return tw.Flush()
}

func daysLeft(t time.Time) int { return int(time.Until(t).Hours() / 24) }

// certJSON is one element of `certs list --json` (docs/architecture.md).
type certJSON struct {
	certs.Issued
	DaysLeft int    `json:"days_left"`
	Revoked  bool   `json:"revoked"`
	Reason   string `json:"reason,omitempty"` // the RFC 5280 reason, when revoked
}

func certsRevokeCmd() *cobra.Command {
	return leaf("revoke (SERIAL | --dept CODE | --system NAME) --ca DIR --reason REASON [--dry-run]",
		"revoke a certificate by serial, or every one of a department or system, with an RFC 5280 reason", maxArgs(1), func(fs *pflag.FlagSet) runFunc {
			ca := addCAFlags(fs)
			reason := fs.String("reason", "unspecified", "RFC 5280 reason: keyCompromise, superseded, cessationOfOperation, affiliationChanged, …")
			dept := fs.String("dept", "", "revoke every unrevoked certificate of this department (with --system: of that system of it)")
			system := fs.String("system", "", "revoke every unrevoked certificate of this system: its signing and its encryption certificate")
			dryRun := fs.Bool("dry-run", false, "list what --dept/--system would revoke, and revoke nothing")
			return func(_ context.Context, pos []string, stdout, _ io.Writer) error {
				byFilter := *dept != "" || *system != ""
				if *ca.dir == "" || (len(pos) == 1) == byFilter || (*dryRun && !byFilter) {
					return usageErrorf("--ca DIR, and one SERIAL or --dept and/or --system (--dry-run only with them)")
				}
				d, err := ca.open()
				if err != nil {
					return err
				}
				if !byFilter {
					if err := d.Revoke(pos[0], *reason); err != nil {
						return err
					}
					fmt.Fprintf(stdout, "revoked %s (%s); publish it with: govgate certs crl --ca %s --out <tlcp.client_crl>\n", pos[0], *reason, *ca.dir)
					return nil
				}
				f := certs.RevokeFilter{Dept: *dept, System: *system}
				var list []certs.Issued
				verb := "revoked"
				if *dryRun {
					verb = "would revoke"
					if err = certs.CheckReason(*reason); err == nil {
						list, err = d.Matching(f)
					}
				} else {
					list, err = d.RevokeMatching(f, *reason)
				}
				printRevoked(stdout, verb, list, *reason)
				if err != nil {
					return err
				}
				if !*dryRun {
					fmt.Fprintf(stdout, "publish them with: govgate certs crl --ca %s --out <tlcp.client_crl>\n", *ca.dir)
				}
				return nil
			}
		})
}

// printRevoked lists the certificates revoked (or that would be), one a line.
func printRevoked(w io.Writer, verb string, list []certs.Issued, reason string) {
	for _, c := range list {
		dept := c.Dept
		if dept == "" {
			dept = "-"
		}
		fmt.Fprintf(w, "%s %s (%s) dept %s system %s use %s\n", verb, c.Serial, reason, dept, c.System, c.Use)
	}
}

func certsCRLCmd() *cobra.Command {
	return leaf("crl --ca DIR --out FILE", "issue the SM2-signed CRL and write it where the gateway reads it (tlcp.client_crl)", noArgs, func(fs *pflag.FlagSet) runFunc {
		ca := addCAFlags(fs)
		out := fs.String("out", "", "where to write the CRL (PEM): the gateway's tlcp.client_crl")
		valid := validityFlag(fs, "valid", 7*day, "time until the CRL's nextUpdate")
		return func(_ context.Context, _ []string, stdout, _ io.Writer) error {
			if *ca.dir == "" || *out == "" {
				return usageErrorf("--ca and --out are required")
			}
			d, err := ca.open()
			if err != nil {
				return err
			}
			pemCRL, crl, err := d.CRL(*valid)
			if err != nil {
				return err
			}
			// Written whole and renamed, so the gateway never reads half a CRL.
			tmp := *out + ".tmp"
			if err := os.WriteFile(tmp, pemCRL, 0o644); err != nil {
				return err
			}
			if err := os.Rename(tmp, *out); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "CRL number %s with %d revoked certificates written to %s; gateways reading it refuse them at their next handshake\n", crl.Number, len(crl.RevokedCertificateEntries), *out)
			return nil
		}
	})
}

func certsRotateCmd() *cobra.Command {
	return leaf("rotate --ca DIR (--keys DIR | --vault-addr URL --vault-prefix PATH) --system NAME --dns NAMES",
		"a new pair for the gateway's own TLCP identity, written to the key store", noArgs, func(fs *pflag.FlagSet) runFunc {
			ca := addCAFlags(fs)
			sf := addStoreFlags(fs, "keys")
			system := fs.String("system", "", "the gateway's name, the certificates' CN")
			dns := fs.String("dns", "", "comma-separated DNS names clients dial")
			signName := fs.String("sign-key-name", "tlcp-sign", "key store name of the signing bundle (tlcp.sign_key_name)")
			encName := fs.String("enc-key-name", "tlcp-enc", "key store name of the encryption bundle (tlcp.enc_key_name)")
			valid := validityFlag(fs, "valid", 365*day, "validity")
			return func(ctx context.Context, _ []string, stdout, _ io.Writer) error {
				if *ca.dir == "" || !sf.given() || *system == "" || *dns == "" {
					return usageErrorf("--ca, a key store (--keys or --vault-addr), --system and --dns are required")
				}
				d, err := ca.open()
				if err != nil {
					return err
				}
				store, err := sf.open(ctx)
				if err != nil {
					return err
				}
				p, err := d.Issue(certs.PairRequest{System: *system, DNSNames: strings.Split(*dns, ","), Server: true, ValidFor: *valid})
				if err != nil {
					return err
				}
				sign, enc, err := d.Bundles(p)
				if err != nil {
					return err
				}
				// The encryption bundle first: a gateway polling between the two writes sees a new
				// encryption certificate with the old signing one — a mismatched pair it refuses —
				// and takes both at its next poll.
				ev, err := store.Put(ctx, *encName, enc)
				if err != nil {
					return err
				}
				sv, err := store.Put(ctx, *signName, sign)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "new gateway pair %s (sign %s): %s version %d, %s version %d; gateways pick it up at their next poll\n",
					*system, p.SignCert.SerialNumber.Text(16), *signName, sv.Number, *encName, ev.Number)
				return nil
			}
		})
}
