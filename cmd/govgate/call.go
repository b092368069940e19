package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto/tlcp"
)

// headerFlags collects repeated -H "Name: value" flags.
type headerFlags map[string]string

func (h headerFlags) String() string {
	if len(h) == 0 {
		return ""
	}
	return fmt.Sprint(map[string]string(h))
}

func (h headerFlags) Type() string { return "string" }

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
	method, data, profile, certFiles, keyFiles, keyPassEnv, ca, serverName, agreement, purpose *string
	unsigned                                                                                   *bool
	timeout                                                                                    *time.Duration
	headers                                                                                    headerFlags
	suites                                                                                     suitesFlag
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

func (f *suitesFlag) Type() string { return "list" }

func (f *suitesFlag) Set(v string) error {
	list, err := tlcp.ParseSuiteList(v)
	if err != nil {
		return err
	}
	f.list = list
	return nil
}

func addDeptFlags(fs *pflag.FlagSet) *deptFlags {
	d := &deptFlags{headers: headerFlags{}}
	d.method = fs.StringP("request", "X", "GET", "HTTP method (govgate call: POST when a body is given without -X, as curl)")
	d.data = fs.StringP("data", "d", "", "request body; @FILE reads it from FILE (sent as is, unlike curl's -d which drops newlines; govgate call streams it, as --data-binary @FILE)")
	fs.VarP(d.headers, "header", "H", "extra request header \"Name: value\" (repeatable)")
	d.profile = fs.String("profile", "", "profile of the profile file to take --ca, --cert, --key (and --audit-keys) from (default: $"+client.EnvProfile+", else the file's default)")
	d.certFiles = fs.String("cert", "", "signing and encryption certificates, comma-separated: SIGN.pem,ENC.pem (each may carry its chain); default $"+client.EnvCert+", else the profile's")
	d.keyFiles = fs.String("key", "", "signing and encryption keys, comma-separated: SIGN.key,ENC.key (files must be mode 0600); default $"+client.EnvKey+", else the profile's")
	d.keyPassEnv = fs.String("key-pass-env", "", "name of an environment variable holding the keys' password, when they are encrypted")
	d.ca = fs.String("ca", "", "PEM file of the CA(s) the gateway's certificate must chain to; default $"+client.EnvCA+", else the profile's")
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

// resolve fills --ca, --cert, --key, --key-pass-env and --server-name left empty from the
// environment, then from the profile: a flag wins, then a variable, then the profile.
func (d *deptFlags) resolve() (client.Profile, error) {
	name := *d.profile
	if name == "" {
		name = os.Getenv(client.EnvProfile)
	}
	path, err := client.DefaultProfilePath()
	if err != nil && name != "" {
		return client.Profile{}, err
	}
	var p client.Profile
	if err == nil {
		if p, err = client.LoadProfile(path, name); err != nil {
			return client.Profile{}, err
		}
	}
	for _, f := range []struct {
		flag    *string
		env     string
		profile string
	}{{d.ca, client.EnvCA, p.CA}, {d.certFiles, client.EnvCert, p.Cert}, {d.keyFiles, client.EnvKey, p.Key}, {d.keyPassEnv, "", p.KeyPassEnv}, {d.serverName, "", p.ServerName}} {
		if *f.flag != "" {
			continue
		}
		if v := os.Getenv(f.env); f.env != "" && v != "" {
			*f.flag = v
		} else {
			*f.flag = f.profile
		}
	}
	return p, nil
}

// client loads the department's TLCP pair and the gateway's CA, for at most maxConns
// connections (0: the client's default).
func (d *deptFlags) client(maxConns int) (*client.Client, error) {
	if _, err := d.resolve(); err != nil {
		return nil, err
	}
	certs := strings.Split(*d.certFiles, ",")
	keys := strings.Split(*d.keyFiles, ",")
	if len(certs) != 2 || len(keys) != 2 || *d.ca == "" {
		return nil, usageErrorf("--cert SIGN,ENC, --key SIGN,ENC and --ca are required (or $%s, $%s, $%s, or a profile)", client.EnvCert, client.EnvKey, client.EnvCA)
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

// callFlags are govgate call's own flags beside the department's: curl's output and
// failure flags, the body forms and the receipt check.
type callFlags struct {
	include, verbose, silent, fail, failWithBody, verifyReceipt *bool
	output, writeOut, json, auditURL, auditKeys                 *string
	continueAt, uploadFile                                      *string
	elapsed                                                     time.Duration // of the last send, for %{time_total}
	methodSet                                                   bool          // -X was given
}

func addCallFlags(fs *pflag.FlagSet, d *deptFlags) *callFlags {
	c := &callFlags{}
	c.include = fs.BoolP("include", "i", false, "print the response's status line (HTTP/1.1 200 OK) and header fields before the body")
	c.verbose = fs.BoolP("verbose", "v", false, "print the request and response heads to stderr (> sent, < received)")
	c.silent = fs.BoolP("silent", "s", false, "print neither the status, request id and receipt lines nor -v to stderr; errors still are")
	c.output = fs.StringP("output", "o", "", "write the body to FILE instead of stdout")
	c.fail = fs.BoolP("fail", "f", false, "on a status of 400 or more, print no body (govgate call exits 1 on such a status with or without -f; curl's 22 is not used)")
	c.continueAt = fs.StringP("continue-at", "C", "", "continue an interrupted download to --output: '-' asks for the bytes from the file's end (Range) and appends them, then checks the whole file against the SM3 of the whole the provider (Repr-Digest) or the gateway (X-Govgate-Whole-Digest) states, and fails without one (curl's -C -)")
	c.failWithBody = fs.Bool("fail-with-body", false, "on a status of 400 or more, print the body (the default; kept for curl's command lines)")
	c.writeOut = fs.StringP("write-out", "w", "", writeOutHelp)
	fs.StringVar(d.data, "data-binary", "", "request body, sent as is; @FILE streams FILE (read once for its signed digest, then sent, never held in memory); @- reads standard input (buffered, at most 64 MiB)")
	c.uploadFile = fs.StringP("upload-file", "T", "", "send FILE as the body, streamed as --data-binary @FILE does, with PUT unless -X is given (curl's -T); - is standard input (buffered, at most 64 MiB)")
	c.json = fs.String("json", "", "JSON request body (@FILE reads it from FILE); sets Content-Type and Accept to application/json")
	c.verifyReceipt = fs.Bool("verify-receipt", false, "check the receipt: wait for a signed checkpoint covering it and verify its inclusion proof, from the data listener called (or --audit-url); needs --audit-keys")
	c.auditURL = fs.String("audit-url", "", "read the checkpoint and proof from the admin API at this URL (role auditor) instead of the data listener")
	c.auditKeys = fs.String("audit-keys", "", "the gateway's audit public keys (keys.json) you trust: a copy kept apart from the gateway (default: the profile's audit_keys)")
	return c
}

func callCmd() *cobra.Command {
	return leaf("call [flags] URL", "call the gateway as a department: TLCP, SM2-signed request, receipt (flags and the URL in any order, as curl)",
		exactArgs(1), func(fs *pflag.FlagSet) runFunc {
			d := addDeptFlags(fs)
			cf := addCallFlags(fs, d)
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				cf.methodSet = fs.Changed("request")
				return cf.call(ctx, d, args[0], stdout, stderr)
			}
		})
}

func (cf *callFlags) call(ctx context.Context, d *deptFlags, target string, stdout, stderr io.Writer) error {
	profile, err := d.resolve()
	if err != nil {
		return err
	}
	// The keys are checked before anything is sent: a call made and then found
	// unverifiable is a record without the check it was made for.
	var keys *audit.KeySet
	if *cf.verifyReceipt {
		if *cf.auditKeys == "" {
			*cf.auditKeys = profile.AuditKeys
		}
		if *cf.auditKeys == "" {
			return usageErrorf("--verify-receipt needs --audit-keys (a copy of the gateway's keys.json kept apart from it)")
		}
		if keys, err = audit.LoadKeySet(*cf.auditKeys); err != nil {
			return fmt.Errorf("--audit-keys: %w", err)
		}
	}
	req, err := cf.request(d, target)
	if err != nil {
		return err
	}
	dl, err := cf.download(&req)
	if err != nil {
		return err
	}
	c, err := d.client(0)
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := cf.send(ctx, c, req, dl, stdout, stderr)
	if err != nil {
		return err
	}
	// A 416 to --continue-at whose file then verified whole is a download already done.
	whole := resp.Status == 416 && dl != nil && dl.Offset() > 0
	if !*cf.silent {
		printReceiptLines(resp, stderr)
	}
	// The write-out comes after the receipt check, so that %{json} can carry its verdict.
	var receiptErr error
	wo := writeOut{resp: resp, url: req.URL, method: req.Method, elapsed: cf.elapsed}
	if *cf.verifyReceipt {
		receiptErr = checkReceipt(ctx, c, resp, target, *cf.auditURL, keys, *cf.silent, stderr)
		verified := receiptErr == nil
		wo.receiptVerified = &verified
	}
	if *cf.writeOut != "" {
		s, err := wo.expand(*cf.writeOut)
		if err != nil {
			return err
		}
		io.WriteString(stdout, s)
	}
	if receiptErr != nil {
		return fmt.Errorf("receipt: %w", receiptErr)
	}
	if resp.Status >= 400 && !whole {
		return fmt.Errorf("the gateway answered %d", resp.Status)
	}
	return nil
}

// request builds the call from the flags: the body of -d/--data-binary or --json, and
// POST when a body is given without -X.
func (cf *callFlags) request(d *deptFlags, target string) (client.Request, error) {
	if *cf.json != "" && *d.data != "" {
		return client.Request{}, usageErrorf("--json and -d/--data-binary both give a body")
	}
	header := map[string]string{}
	for k, v := range d.headers {
		header[k] = v
	}
	if *cf.json != "" {
		*d.data = *cf.json
		setDefault(header, "Content-Type", "application/json")
		setDefault(header, "Accept", "application/json")
	}
	body, file, err := cf.body(d)
	if err != nil {
		return client.Request{}, err
	}
	method := *d.method
	switch {
	case cf.methodSet:
	case *cf.uploadFile != "":
		method = "PUT" // curl's -T
	case *d.data != "":
		method = "POST"
	}
	return client.Request{Method: method, URL: target, Body: body, BodyFile: file, Header: header, Agreement: *d.agreement, Purpose: *d.purpose}, nil
}

// body is the call's body: a file named by @FILE or -T FILE is streamed (client.BodyFile:
// read once for its digest, then sent, never held whole); standard input (@- or -T -) is
// buffered up to client.MaxStdinBody and refused beyond; anything else is the text given.
func (cf *callFlags) body(d *deptFlags) ([]byte, string, error) {
	data := *d.data
	if *cf.uploadFile != "" {
		if data != "" {
			return nil, "", usageErrorf("-T/--upload-file and -d/--data-binary/--json both give a body")
		}
		data = "@" + *cf.uploadFile
	}
	switch {
	case data == "@-":
		b, err := client.ReadStdinBody(os.Stdin)
		return b, "", err
	case strings.HasPrefix(data, "@"):
		return nil, data[1:], nil
	}
	return []byte(data), "", nil
}

// setDefault sets a header unless -H set it, in any case.
func setDefault(h map[string]string, name, value string) {
	for k := range h {
		if strings.EqualFold(k, name) {
			return
		}
	}
	h[name] = value
}

// send sends the request, printing its head with -v, and streams the answer's body to
// stdout or through dl to --output as it arrives (callstream.go).
func (cf *callFlags) send(ctx context.Context, c *client.Client, req client.Request, dl *client.Download, stdout, stderr io.Writer) (*client.Response, error) {
	p, err := c.Prepare(req)
	if err != nil {
		return nil, err
	}
	defer p.Release()
	verbose := *cf.verbose && !*cf.silent
	if verbose {
		fmt.Fprintf(stderr, "* %s\n", req.URL)
		prefixLines(stderr, "> ", p.Head())
	}
	sink := &bodySink{cf: cf, dl: dl, stdout: stdout, stderr: stderr, verbose: verbose}
	start := time.Now()
	resp, err := c.SendTo(ctx, p, sink.open)
	cf.elapsed = time.Since(start)
	return resp, sink.finish(resp, err)
}

func prefixLines(w io.Writer, prefix string, head []byte) {
	for _, line := range strings.Split(strings.TrimRight(string(head), "\r\n"), "\r\n") {
		fmt.Fprintf(w, "%s%s\n", prefix, line)
	}
}

// printReceiptLines says what the answer carries. The admin API marks its answers: their
// records are of kind admin, without a receipt.
func printReceiptLines(resp *client.Response, stderr io.Writer) {
	fmt.Fprintf(stderr, "status: %d", resp.Status)
	if resp.RequestID != "" {
		fmt.Fprintf(stderr, "  request-id: %s", resp.RequestID)
	}
	fmt.Fprintln(stderr)
	switch {
	case resp.Receipt != "":
		fmt.Fprintf(stderr, "receipt: %s\n", resp.Receipt)
	case resp.RecordKind == "admin":
		fmt.Fprintln(stderr, "receipt: none (an admin API answer: admin requests are recorded as kind admin, without a receipt; probes are not recorded)")
	default:
		fmt.Fprintln(stderr, "receipt: none (this gateway runs without its audit stage)")
	}
}

// checkReceipt verifies the call's receipt with keys kept apart, from the data listener
// called (the department's own proofs) or, with --audit-url, the admin API.
func checkReceipt(ctx context.Context, c *client.Client, resp *client.Response, target, auditURL string, keys *audit.KeySet, silent bool, stderr io.Writer) error {
	if resp.Receipt == "" {
		return errors.New("the response carries no receipt")
	}
	var src client.ProofSource
	if auditURL != "" {
		src = &client.AdminSource{BaseURL: auditURL}
	} else {
		u, err := url.Parse(target)
		if err != nil {
			return err
		}
		src = &client.GatewaySource{Client: c, BaseURL: u.Scheme + "://" + u.Host}
	}
	rc := &client.ReceiptCheck{Source: src, Keys: keys, Wait: 5 * time.Second}
	cp, err := rc.Verify(ctx, resp.Receipt)
	if err != nil {
		return err
	}
	if !silent {
		fmt.Fprintf(stderr, "receipt verified: the record is in log %s of size %d, checkpoint signed by %s (key %s)\n", cp.Origin, cp.Size, cp.KeyName, cp.KeyID)
	}
	return nil
}

// download prepares --output (nil without it) and, for --continue-at -, sets the
// request's Range to the bytes from the end of what an interrupted download left (under
// If-Range with the version it was of, when that is known).
func (cf *callFlags) download(req *client.Request) (*client.Download, error) {
	resume := *cf.continueAt != ""
	if resume && (*cf.continueAt != "-" || *cf.output == "") {
		return nil, usageErrorf("--continue-at takes '-' (continue where the --output file ends) and needs --output")
	}
	if *cf.output == "" {
		return nil, nil
	}
	dl, err := client.NewDownload(*cf.output, resume)
	if err != nil {
		return nil, err
	}
	dl.Ask(req)
	return dl, nil
}
