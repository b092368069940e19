package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto/tlcp"
)

// headerFlags collects repeated -H "Name: value" flags.
type headerFlags map[string]string

func (h headerFlags) String() string { return fmt.Sprint(map[string]string(h)) }

func (h headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q is not Name: value", v)
	}
	h[strings.TrimSpace(name)] = strings.TrimSpace(value)
	return nil
}

// deptFlags are the flags of a command that calls the gateway as a department.
type deptFlags struct {
	method, data, certFiles, keyFiles, keyPassEnv, ca, serverName, agreement, purpose *string
	unsigned                                                                          *bool
	timeout                                                                           *time.Duration
	headers                                                                           headerFlags
	suites                                                                            suitesFlag
}

// suitesFlag is --suites (and its alias --suite): TLCP cipher suites to offer, most
// preferred first, by GB/T 38636-2020 name; an unknown name is refused as it is parsed.
type suitesFlag struct{ list []tlcp.Suite }

func (f *suitesFlag) String() string {
	if f == nil || f.list == nil {
		return ""
	}
	return fmt.Sprint(f.list)
}

func (f *suitesFlag) Set(v string) error {
	list, err := tlcp.ParseSuiteList(v)
	if err != nil {
		return err
	}
	f.list = list
	return nil
}

func addDeptFlags(fs *flag.FlagSet) *deptFlags {
	d := &deptFlags{headers: headerFlags{}}
	d.method = fs.String("X", "GET", "HTTP method")
	d.data = fs.String("d", "", "request body; @FILE reads it from FILE")
	fs.Var(d.headers, "H", "extra request header \"Name: value\" (repeatable)")
	d.certFiles = fs.String("cert", "", "signing and encryption certificates, comma-separated: SIGN.pem,ENC.pem (each may carry its chain)")
	d.keyFiles = fs.String("key", "", "signing and encryption keys, comma-separated: SIGN.key,ENC.key (files must be mode 0600)")
	d.keyPassEnv = fs.String("key-pass-env", "", "name of an environment variable holding the keys' password, when they are encrypted")
	d.ca = fs.String("ca", "", "PEM file of the CA(s) the gateway's certificate must chain to")
	d.serverName = fs.String("server-name", "", "name the gateway's certificate must carry (default: the URL's host)")
	d.agreement = fs.String("agreement", "", "sharing agreement the call is made under (X-Govgate-Agreement)")
	d.purpose = fs.String("purpose", "", "purpose of the call (X-Govgate-Purpose)")
	d.unsigned = fs.Bool("no-sign", false, "send without an SM2 request signature")
	d.timeout = fs.Duration("timeout", 30*time.Second, "time limit for one request, handshake included")
	suitesHelp := "TLCP cipher suites to offer, comma-separated, most preferred first: ECDHE_SM4_GCM_SM3, ECC_SM4_GCM_SM3, ECDHE_SM4_CBC_SM3, ECC_SM4_CBC_SM3 (default: all four, in that order; the gateway's preference decides)"
	fs.Var(&d.suites, "suites", suitesHelp)
	fs.Var(&d.suites, "suite", "the same as --suites (one suite: only that one is offered)")
	return d
}

// client loads the department's TLCP pair and the gateway's CA, for at most maxConns
// connections (0: the client's default).
func (d *deptFlags) client(maxConns int) (*client.Client, error) {
	certs := strings.Split(*d.certFiles, ",")
	keys := strings.Split(*d.keyFiles, ",")
	if len(certs) != 2 || len(keys) != 2 || *d.ca == "" {
		return nil, fmt.Errorf("%w: --cert SIGN,ENC, --key SIGN,ENC and --ca are required", errUsage)
	}
	var password []byte
	if *d.keyPassEnv != "" {
		password = []byte(os.Getenv(*d.keyPassEnv))
	}
	id, err := tlcp.LoadIdentity(certs[0], keys[0], certs[1], keys[1], password)
	if err != nil {
		return nil, err
	}
	ts, err := tlcp.LoadTrust([]string{*d.ca}, nil)
	if err != nil {
		return nil, err
	}
	trust := &tlcp.TrustSource{}
	trust.Store(ts)
	return client.New(client.Config{Identity: id, Trust: trust, ServerName: *d.serverName, Unsigned: *d.unsigned, Timeout: *d.timeout, MaxConns: maxConns, Suites: d.suites.list})
}

// body reads -d.
func (d *deptFlags) body() ([]byte, error) {
	if strings.HasPrefix(*d.data, "@") {
		b, err := os.ReadFile((*d.data)[1:])
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
		return b, nil
	}
	return []byte(*d.data), nil
}

func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("call", "call [flags] URL", stderr)
	d := addDeptFlags(fs)
	include := fs.Bool("i", false, "print the response status line and headers before the body")
	verifyReceipt := fs.Bool("verify-receipt", false, "check the receipt: wait for a signed checkpoint covering it and verify its inclusion proof (needs --audit-url and --audit-keys)")
	auditURL := fs.String("audit-url", "http://127.0.0.1:9090", "where the gateway serves /audit/checkpoint and /audit/proof/inclusion")
	auditKeys := fs.String("audit-keys", "", "the gateway's audit public keys (keys.json) you trust")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "govgate call: exactly one URL is required")
		fs.Usage()
		return errUsage
	}
	c, err := d.client(0)
	if errors.Is(err, errUsage) {
		fmt.Fprintln(stderr, "govgate call:", err)
		return errUsage
	}
	if err != nil {
		return err
	}
	defer c.Close()
	body, err := d.body()
	if err != nil {
		return err
	}
	resp, err := c.Do(ctx, client.Request{Method: *d.method, URL: fs.Arg(0), Body: body, Header: d.headers, Agreement: *d.agreement, Purpose: *d.purpose})
	if err != nil {
		return err
	}
	if *include {
		fmt.Fprintf(stdout, "%d\n", resp.Status)
		names := make([]string, 0, len(resp.Header))
		for k := range resp.Header {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			for _, v := range resp.Header[k] {
				fmt.Fprintf(stdout, "%s: %s\n", k, v)
			}
		}
		fmt.Fprintln(stdout)
	}
	stdout.Write(resp.Body)
	if len(resp.Body) > 0 && resp.Body[len(resp.Body)-1] != '\n' {
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stderr, "status: %d  request-id: %s\n", resp.Status, resp.RequestID)
	if resp.Receipt != "" {
		fmt.Fprintf(stderr, "receipt: %s\n", resp.Receipt)
	} else {
		fmt.Fprintln(stderr, "receipt: none (this gateway runs without its audit stage)")
	}
	if *verifyReceipt {
		if err := checkReceipt(ctx, resp.Receipt, *auditURL, *auditKeys, stderr); err != nil {
			return fmt.Errorf("receipt: %w", err)
		}
	}
	if resp.Status >= 400 {
		return fmt.Errorf("the gateway answered %d", resp.Status)
	}
	return nil
}

func checkReceipt(ctx context.Context, receipt, auditURL, keysPath string, stderr io.Writer) error {
	if receipt == "" {
		return errors.New("the response carries no receipt")
	}
	if keysPath == "" {
		return errors.New("--verify-receipt needs --audit-keys")
	}
	keys, err := audit.LoadKeySet(keysPath)
	if err != nil {
		return err
	}
	rc := &client.ReceiptCheck{BaseURL: auditURL, Keys: keys, Wait: 5 * time.Second}
	c, err := rc.Verify(ctx, receipt)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "receipt verified: the record is in log %s of size %d, checkpoint signed by %s (key %s)\n", c.Origin, c.Size, c.KeyName, c.KeyID)
	return nil
}
