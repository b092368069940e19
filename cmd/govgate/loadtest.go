package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/govgate/govgate/loadtest"
)

func loadtestCmd() *cobra.Command {
	return leaf("loadtest [flags] URL", "load the gateway: closed or open loop, plain, TLS or TLCP, HDR latency", exactArgs(1), func(fs *pflag.FlagSet) runFunc {
		d := addDeptFlags(fs)
		conns := fs.Int("conns", 16, "concurrent connections")
		rate := fs.Float64("rate", 0, "requests per second, open loop (latency measured from when each request was due); 0: closed loop")
		duration := fs.Duration("duration", 10*time.Second, "how long to send")
		requests := fs.Int64("requests", 0, "stop after this many requests (0: only --duration)")
		transport := fs.String("transport", "", "plain, tls or tlcp; default: plain for http://, tlcp for https:// with --cert, tls otherwise")
		tlsCA := fs.String("tls-ca", "", "for --transport tls: PEM roots that verify the server")
		tlsCert := fs.String("tls-cert", "", "for --transport tls: the client certificate (PEM), for mutual TLS")
		tlsKey := fs.String("tls-key", "", "for --transport tls: its key")
		preSign := fs.Int("presign", 0, "for tlcp: sign this many requests before the run, so that the generator's own SM2 signing does not limit it; each is sent once, and a signature is valid for the gateway's clock skew (default 300 s) from when it was made")
		asJSON := fs.Bool("json", false, "print the result as JSON, for scripts")
		quiet := fs.BoolP("quiet", "q", false, "no progress line")
		return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			target := args[0]
			u, err := url.Parse(target)
			if err != nil {
				return err
			}
			body, err := d.body()
			if err != nil {
				return err
			}
			req := loadtest.Request{Method: *d.method, URL: target, Body: body, Header: d.headers, Agreement: *d.agreement, Purpose: *d.purpose}
			mode := *transport
			if mode == "" {
				switch {
				case u.Scheme == "http":
					mode = "plain"
				case *d.certFiles != "":
					mode = "tlcp"
				default:
					mode = "tls"
				}
			}
			if d.suites.list != nil && mode != "tlcp" {
				return usageErrorf("--suites applies to --transport tlcp, not %s", mode)
			}
			var lt loadtest.Target
			switch mode {
			case "plain":
				lt, err = loadtest.NewHTTPTarget(req, nil, *conns, *d.timeout)
			case "tls":
				var cfg *tls.Config
				if cfg, err = tlsClientConfig(*tlsCA, *tlsCert, *tlsKey); err == nil {
					lt, err = loadtest.NewHTTPTarget(req, cfg, *conns, *d.timeout)
				}
			case "tlcp":
				c, cerr := d.client(*conns)
				if cerr != nil {
					return cerr
				}
				defer c.Close()
				tt := loadtest.NewTLCPTarget(c, req)
				if err := tt.PreSign(*preSign); err != nil {
					return err
				}
				lt = tt
			default:
				return usageErrorf("--transport %q: want plain, tls or tlcp", mode)
			}
			if err != nil {
				return err
			}
			opts := loadtest.Options{Conns: *conns, Rate: *rate, Duration: *duration, Requests: *requests}
			if !*quiet && !*asJSON {
				opts.Progress = stderr
			}
			r, err := loadtest.Run(ctx, lt, opts)
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(stdout, r)
			}
			fmt.Fprintf(stdout, "%s over %s: %s", target, mode, r.Summary())
			return nil
		}
	})
}

func tlsClientConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--tls-ca %s: no certificate", caFile)
		}
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
