package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"

	"github.com/govgate/govgate/gateway"
)

//go:embed demo.yaml
var demoConfig []byte

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "demo [flags]", stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address of the demo's external-zone listener (loopback only)")
	admin := fs.String("admin", "127.0.0.1:9090", "address of the admin API (loopback only)")
	var lf logFlags
	lf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}

	providers, err := startDemoProviders()
	if err != nil {
		return err
	}
	defer providers.close()

	build := func() (*gateway.Config, error) { return demoGatewayConfig(*listen, *admin, providers) }
	cfg, err := build()
	if err != nil {
		return err
	}
	g, err := gateway.New(cfg, gateway.Options{Logger: log, Source: build})
	if err != nil {
		return err
	}
	if err := g.Start(); err != nil {
		return err
	}
	printDemoHelp(stdout, g)
	return runUntilSignal(ctx, g, log)
}

// demoGatewayConfig is the embedded demo config with the listener, admin and provider
// addresses of this run.
func demoGatewayConfig(listen, admin string, p *demoProviders) (*gateway.Config, error) {
	cfg, err := gateway.ParseConfig(demoConfig)
	if err != nil {
		return nil, fmt.Errorf("embedded demo config: %w", err)
	}
	cfg.Listeners[0].Address = listen
	cfg.Admin.Address = admin
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

func printDemoHelp(w io.Writer, g *gateway.Gateway) {
	gw := g.ListenerAddr("external").String()
	adm := g.AdminAddr().String()
	fmt.Fprintf(w, `
govgate demo is running.

  gateway (external zone, plain HTTP on loopback): http://%[1]s
  admin API:                                       http://%[2]s

Try:
  # population base information (人口基础信息) through the gateway
  curl -si 'http://%[1]s/population/v1/persons?id=110101199003077777'
  # enterprise registration business information (企业登记信息)
  curl -si 'http://%[1]s/enterprise/v1/companies?uscc=91110108MA01A2B3C4'
  # refused: no route (404), ambiguous path (400)
  curl -si 'http://%[1]s/tax/v1/records'
  curl -si --path-as-is 'http://%[1]s/population/v1/../admin'
  # the admin API
  curl -s http://%[2]s/readyz
  curl -s http://%[2]s/metrics | grep govgate_requests_total
  curl -s http://%[2]s/config

Stop with Ctrl-C.
`, gw, adm)
}
