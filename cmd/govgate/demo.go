package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/assemble"
	"github.com/govgate/govgate/keys"
)

//go:embed demo.yaml
var demoConfig []byte

func demoCmd() *cobra.Command {
	return leaf("demo [flags]", "run gateway and sample providers on loopback with embedded defaults", noArgs, func(fs *pflag.FlagSet) runFunc {
		listen := fs.String("listen", "127.0.0.1:8443", "address of the demo's external-zone TLCP listener")
		dataDir := fs.String("data-dir", "govgate-demo-data", "directory for the demo's CA, certificates and keys (created on first start)")
		admin := fs.String("admin", "127.0.0.1:9090", "address of the admin API (loopback only)")
		vaultAddr := fs.String("vault-addr", "", "keep the keys in Vault KV v2 at this address instead of the data directory's file store")
		vaultTokenEnv := fs.String("vault-token-env", "VAULT_TOKEN", "environment variable holding the Vault token, with --vault-addr")
		fleetMode := fs.Bool("fleet", false, "run a fleet instead (demofleet.go): redis-server if on PATH, a signed-bundle server and two gateways (the second on --listen2, --admin2)")
		listen2 := fs.String("listen2", "127.0.0.1:8444", "with --fleet: the second gateway's TLCP listener")
		admin2 := fs.String("admin2", "127.0.0.1:9091", "with --fleet: the second gateway's admin API")
		var lf logFlags
		lf.register(fs)
		return func(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
			log, err := lf.logger(stderr)
			if err != nil {
				return err
			}
			if *fleetMode {
				return runDemoFleet(ctx, demoFleetOptions{dataDir: *dataDir, listen: [2]string{*listen, *listen2}, admin: [2]string{*admin, *admin2}, log: log}, stdout)
			}

			pki, err := ensureDemoPKI(ctx, *dataDir)
			if err != nil {
				return err
			}
			providers, err := startDemoProviders()
			if err != nil {
				return err
			}
			defer providers.close()

			build := func() (*gateway.Config, error) {
				cfg, err := demoGatewayConfig(*listen, *admin, providers, pki)
				if err == nil && *vaultAddr != "" {
					cfg.Keys.Backend = "vault"
					cfg.Keys.Vault = gateway.Vault{Address: *vaultAddr, TokenEnv: *vaultTokenEnv, Mount: "secret", Prefix: "govgate/" + cfg.GatewayID}
					err = cfg.Validate()
				}
				return cfg, err
			}
			cfg, err := build()
			if err != nil {
				return err
			}
			if *vaultAddr != "" {
				if err := seedVault(ctx, cfg, pki); err != nil {
					return err
				}
			}
			return runGateway(ctx, cfg, assemble.Options{Logger: log, Source: build}, func(g *gateway.Gateway) {
				if err := keepAuditorKeys(cfg, pki); err != nil {
					log.Warn("demo: no auditor's copy of the audit keys", "error", err)
				}
				printDemoHelp(stdout, g, pki, *vaultAddr, cfg.Keys.Vault.Prefix, providers.published.etag)
			})
		}
	})
}

// demoGatewayConfig is the embedded demo config with the listener, admin and provider
// addresses of this run.
func demoGatewayConfig(listen, admin string, p *demoProviders, pki *demoPKI) (*gateway.Config, error) {
	cfg, err := gateway.ParseConfig(demoConfig)
	if err != nil {
		return nil, fmt.Errorf("embedded demo config: %w", err)
	}
	cfg.Listeners[0].Address = listen
	cfg.Admin.Address = admin
	t := &cfg.TLCP
	for _, f := range []*string{&t.ClientCA, &t.ClientCRL, &cfg.Audit.Dir, &cfg.Keys.Dir} {
		*f = pki.path(*f)
	}
	for i := range cfg.Pools {
		switch cfg.Pools[i].ID {
		case "population-registry":
			cfg.Pools[i].Addresses = []string{p.population.Addr().String()}
		case "enterprise-registry":
			cfg.Pools[i].Addresses = []string{p.enterprise.Addr().String()}
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	return cfg, nil
}

// keepAuditorKeys copies the audit log's public keys out of the log, once the gateway has
// opened it: an auditor verifies against a copy kept apart from the log, never against the
// keys.json beside the records, which whoever could rewrite the log could rewrite too.
func keepAuditorKeys(cfg *gateway.Config, pki *demoPKI) error {
	b, err := os.ReadFile(filepath.Join(cfg.Audit.Dir, "keys.json"))
	if err != nil {
		return err
	}
	return os.WriteFile(pki.path(demoAuditorKeys), b, 0o644)
}

// demoAuditorKeys is the auditor's copy of the audit keys in the demo's data directory.
const demoAuditorKeys = "auditor-keys.json"

// seedVault copies the demo's gateway pair from the data directory's file store into
// Vault, where the gateway then reads it, the first time the demo runs against that Vault.
func seedVault(ctx context.Context, cfg *gateway.Config, pki *demoPKI) error {
	vault, err := assemble.OpenKeyStore(ctx, cfg)
	if err != nil {
		return err
	}
	files, err := keys.NewFileStore(pki.path("keys"))
	if err != nil {
		return err
	}
	for _, name := range []string{"tlcp-enc", "tlcp-sign"} {
		if _, err := vault.Latest(ctx, name); !errors.Is(err, keys.ErrNotFound) {
			if err != nil {
				return fmt.Errorf("vault: %w", err)
			}
			continue
		}
		v, err := files.Latest(ctx, name)
		if err != nil {
			return err
		}
		if _, err := vault.Put(ctx, name, v.Data); err != nil {
			return err
		}
	}
	return nil
}

func printDemoHelp(w io.Writer, g *gateway.Gateway, pki *demoPKI, vaultAddr, vaultPrefix, publishedETag string) {
	store := "--keys " + pki.path("keys")
	if vaultAddr != "" {
		store = "--vault-addr " + vaultAddr + " --vault-prefix " + vaultPrefix
	}
	_, port, _ := net.SplitHostPort(g.ListenerAddr("external").String())
	gw := "https://localhost:" + port
	adm := g.AdminAddr().String()
	d := demoDepartments()[0]
	call := demoCall(pki, d)
	fmt.Fprintf(w, `
govgate demo is running.

  gateway (external zone, TLCP with SM2 certificates): %[1]s
  admin API:                                           http://%[2]s
  demo CA, certificates and keys:                      %[4]s

Try, as department %[5]s (system %[6]s):
  # population base information (人口基础信息), shared with every department; signed
  # with SM2 over TLCP because the catalog grades it important
  %[3]s '%[1]s/population/v1/persons?id=110101199003077777'
  # enterprise registration (企业登记信息), business information: only under an agreement,
  # cut down to the fields it grants, legal_representative masked
  %[3]s --agreement AGR-2026-0107 --purpose social-insurance-check '%[1]s/enterprise/v1/companies?uscc=91110108MA01A2B3C4'
  # denied (403): the agreement named expired on 2026-06-30 (AGREEMENT_EXPIRED)
  %[3]s --agreement AGR-2024-0311 --purpose social-insurance-check '%[1]s/enterprise/v1/companies'
  # blocked (403): the registry labels this record secret, above the zone's ceiling
  %[3]s '%[1]s/population/v1/persons?id=110108196505050011'
  # exchange (交换) as the tax bureau (110000-shuiwu): ~120 MB of registration changes
  # streamed and cut row by row to the columns of AGR-2025-0219; the receipt and the SM3
  # digest arrive as trailers and govgate call checks them (exit 1 on a cut transfer)
  %[9]s --agreement AGR-2025-0219 --purpose tax-registration --output changes.csv '%[1]s/enterprise/bulk/changes.csv'
  # publication (发布): the market regulator's daily list of legal entities (法人名录, ~30 MB),
  # the same file to every department; the catalog below lists its version, update
  # frequency (更新频度) and size. Interrupted (Ctrl-C), the download is left as
  # entities.csv.part; --continue-at - asks for the rest (Range) and checks the whole file
  # against the SM3 of the whole the gateway states (the registry states none: the gateway
  # reads the bytes before the range itself, under the same ETag) before naming it entities.csv
  %[3]s --output entities.csv '%[1]s/legal-entity/published/entities.csv'
  %[3]s --continue-at - --output entities.csv '%[1]s/legal-entity/published/entities.csv'
  # a conditional GET for the version you hold: 304 Not Modified, recorded like any exchange
  %[3]s --include --header 'If-None-Match: %[10]s' '%[1]s/legal-entity/published/entities.csv'
  # the sharing catalog (共享信息目录) this department may see
  %[3]s '%[1]s/.well-known/govgate/catalog'
  # the receipt of an exchange, checked against a signed checkpoint of the audit log
  %[3]s --verify-receipt --audit-url http://%[2]s --audit-keys %[4]s/auditor-keys.json \
      '%[1]s/population/v1/persons?id=110101199003077777'
  # the audit log, verified offline against the auditor's copy of its keys (taken at
  # start, kept apart from the log), and the sharing report supervision asks for
  go run ./cmd/govgate audit verify %[4]s/audit --keys %[4]s/auditor-keys.json
  go run ./cmd/govgate audit report %[4]s/audit --policy rego
  # rotate the gateway's TLCP certificate while it runs: new handshakes get the new one
  go run ./cmd/govgate certs rotate --ca %[4]s/ca %[8]s --system gw-demo-01 --dns localhost
  # revoke the tax bureau's certificate (110000-shuiwu): its next handshake is refused
  go run ./cmd/govgate certs revoke %[7]s --ca %[4]s/ca --reason keyCompromise
  go run ./cmd/govgate certs crl --ca %[4]s/ca --out %[4]s/crl.pem
  # refused: no client certificate (the handshake fails)
  curl -sk %[1]s/population/v1/persons
  # the admin API: readiness, metrics, the policy and a dry run of a decision
  curl -s http://%[2]s/readyz
  curl -s http://%[2]s/metrics | grep -E 'govgate_requests_total|govgate_policy'
  curl -s http://%[2]s/policy
  go run ./cmd/govgate policy eval --explain --input examples/policy-input.json

Stop with Ctrl-C.
`, gw, adm, call, pki.dir, d.dept, d.system, pki.serialOf("shuiwu-sign"+certs.CertSuffix), store, demoCall(pki, demoDepartments()[1]), publishedETag)
}

// demoCall is the start of a govgate call command as department d.
func demoCall(pki *demoPKI, d demoDepartment) string {
	return fmt.Sprintf("go run ./cmd/govgate call --ca %s \\\n      --cert %s,%s \\\n      --key %s,%s \\\n     ",
		pki.path("ca/ca.pem"), certs.PairFile(pki.dir, d.file, "sign", certs.FullchainSuffix), certs.PairFile(pki.dir, d.file, "enc", certs.FullchainSuffix),
		certs.PairFile(pki.dir, d.file, "sign", certs.KeySuffix), certs.PairFile(pki.dir, d.file, "enc", certs.KeySuffix))
}
