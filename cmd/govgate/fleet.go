package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto/tlcp"
	"github.com/govgate/govgate/fleet"
)

func fleetCmd() *cobra.Command {
	return group("fleet", "look at every gateway's admin API and flag where the fleet diverges",
		`Commands for operators of a fleet of gateways.
Exit status: 0 the fleet agrees; 1 a divergence (or an error); 2 usage.`,
		fleetStatusCmd())
}

// gatewayList is --gateway, repeatable: URL or NAME=URL.
type gatewayList []fleet.Gateway

func (l *gatewayList) String() string { return fmt.Sprint(*l) }

func (l *gatewayList) Type() string { return "[NAME=]URL" }

func (l *gatewayList) Set(v string) error {
	name, url, ok := strings.Cut(v, "=")
	if !ok || strings.Contains(name, "/") {
		name, url = v, v
	} else if name == "" {
		// "=URL" is a typo more likely than a wish for a nameless gateway in the report.
		return fmt.Errorf("%q: empty NAME before '='; give NAME=URL or just URL", v)
	}
	if url == "" {
		return errors.New("empty admin URL")
	}
	*l = append(*l, fleet.Gateway{Name: name, Admin: url})
	return nil
}

func fleetStatusCmd() *cobra.Command {
	return leaf("status (--gateway [NAME=]URL ... | --config fleet.yaml) [flags]",
		"ask every gateway's admin API and flag policy revisions, certificates, key versions, shared state, audit checkpoints and readiness that diverge", noArgs, func(fs *pflag.FlagSet) runFunc {
			var gws gatewayList
			fs.Var(&gws, "gateway", "a gateway's admin API base URL, optionally NAME=URL (repeatable): http://127.0.0.1:9090, or https://HOST:PORT for a TLCP admin API")
			config := fs.String("config", "", "fleet file listing the gateways (gateways: [{name, admin}])")
			asJSON := fs.Bool("json", false, jsonHelp)
			grace := fs.Duration("grace", 0, "how long two policy revisions may both be live before it is a divergence (default: the largest bundle poll interval reported, else 30s)")
			expiry := fs.Duration("expiry-warning", fleet.DefaultExpiryWarning, "flag certificates that expire within this")
			keyGrace := fs.Duration("key-grace", 0, "how long gateways on one key store may use different versions of a key after the newer was created (default: --grace when given, else 2m)")
			stale := fs.Duration("stale", fleet.DefaultAuditStale, "flag a gateway whose audit log holds records past a checkpoint signed longer ago than this (or none signed)")
			ca := fs.String("ca", "", "for a TLCP admin API: PEM file of the CA(s) the gateway's certificate chains to")
			cert := fs.String("cert", "", "for a TLCP admin API: the administrator's SIGN.pem,ENC.pem")
			key := fs.String("key", "", "for a TLCP admin API: the administrator's SIGN.key,ENC.key (mode 0600)")
			passEnv := fs.String("key-pass-env", "", "name of an environment variable holding the keys' password, when they are encrypted")
			serverName := fs.String("server-name", "", "name the gateways' certificates must carry (default: each URL's host)")
			timeout := fs.Duration("timeout", 10*time.Second, "time limit for each admin request")
			return func(ctx context.Context, _ []string, stdout, _ io.Writer) error {
				o := fleetStatusOptions{gws: gws, config: *config, asJSON: *asJSON, grace: *grace, expiry: *expiry, keyGrace: *keyGrace, stale: *stale,
					ca: *ca, cert: *cert, key: *key, passEnv: *passEnv, serverName: *serverName, timeout: *timeout}
				return runFleetStatus(ctx, o, stdout)
			}
		})
}

// fleetStatusOptions are fleet status's flags.
type fleetStatusOptions struct {
	gws                                gatewayList
	config                             string
	asJSON                             bool
	grace, expiry, timeout             time.Duration
	keyGrace, stale                    time.Duration
	ca, cert, key, passEnv, serverName string
}

func runFleetStatus(ctx context.Context, o fleetStatusOptions, stdout io.Writer) error {
	gws := o.gws
	if o.config != "" {
		list, err := fleet.LoadFile(o.config)
		if err != nil {
			return err
		}
		gws = append(gws, list...)
	}
	if len(gws) == 0 {
		return usageErrorf("give --gateway URL (repeatable) or --config fleet.yaml")
	}
	var getter fleet.Getter = fleet.HTTPGetter{Client: &http.Client{Timeout: o.timeout}}
	if o.cert != "" || o.key != "" {
		c, err := adminClient(o.ca, o.cert, o.key, o.passEnv, o.serverName, o.timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		getter = fleet.TLCPGetter{Client: c}
	}
	rctx, cancel := context.WithTimeout(ctx, o.timeout*4)
	defer cancel()
	report := fleet.Analyze(fleet.Collect(rctx, getter, gws), fleet.Options{Grace: o.grace, ExpiryWarning: o.expiry, KeyGrace: o.keyGrace, AuditStale: o.stale})
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else {
		fleet.Print(stdout, report)
	}
	if !report.OK {
		return errFound // exit 1; the report says why
	}
	return nil
}

// adminClient dials TLCP admin APIs with an administrator's pair.
func adminClient(ca, certs, keys, passEnv, serverName string, timeout time.Duration) (*client.Client, error) {
	c, k := strings.Split(certs, ","), strings.Split(keys, ",")
	if len(c) != 2 || len(k) != 2 || ca == "" {
		return nil, errors.New("a TLCP admin API needs --cert SIGN,ENC, --key SIGN,ENC and --ca")
	}
	var password []byte
	if passEnv != "" {
		password = []byte(os.Getenv(passEnv))
	}
	id, err := tlcp.LoadIdentity(c[0], k[0], c[1], k[1], password)
	if err != nil {
		return nil, err
	}
	ts, err := tlcp.LoadTrust([]string{ca}, nil)
	if err != nil {
		return nil, err
	}
	trust := &tlcp.TrustSource{}
	trust.Store(ts)
	return client.New(client.Config{Identity: id, Trust: trust, ServerName: serverName, Unsigned: true, Timeout: timeout})
}
