package main

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/govgate/govgate/audit"
)

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"verify": runAuditVerify,
		"proof":  runAuditProof,
		"report": runAuditReport,
		"export": runAuditExport,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		fmt.Fprint(stderr, `Usage: govgate audit <command> DIR [flags]

Commands, for auditors (审计管理员); they read the log without changing it:
  verify  recompute every record hash, root and checkpoint signature; print every fault
          with its index, then the total (exit status 1 when there is one)
  proof   the inclusion proof of one record, checked against the latest signed checkpoint
  report  data sharing per consumer, provider, resource and agreement: allowed, denied,
          failed, bytes (records of kind exchange, catalog and refusal; admin actions are not
          sharing)
  export  copy the sealed segments and their checkpoints into a directory that verifies alone
`)
		return errUsage
	}
	err := sub[args[0]](ctx, args[1:], stdout, stderr)
	if errors.Is(err, errFound) {
		return errFaultExit
	}
	return err
}

// errFaultExit makes the command exit 1 after it printed the fault itself.
var errFaultExit = errors.New("the audit log does not verify")

// splitDir takes the log directory from the front of args, so that flags may follow it.
func splitDir(args []string) (string, []string) {
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		return args[0], args[1:]
	}
	return "", args
}

const keysHelp = "the audit public keys (keys.json) the auditor trusts — a copy kept apart from the log"

func runAuditVerify(_ context.Context, args []string, stdout, stderr io.Writer) error {
	dir, args := splitDir(args)
	fs := newFlagSet("audit verify", "audit verify DIR --keys FILE", stderr)
	keysPath := fs.String("keys", "", keysHelp)
	keys, err := parseDirAndKeys(fs, args, dir, keysPath)
	if err != nil {
		return err
	}
	start := time.Now()
	rep, err := audit.Verify(dir, keys)
	if rep == nil {
		return err
	}
	if len(rep.Faults) > 0 {
		// Every fault, one a line, then the total: a fault never hides a later one.
		for _, f := range rep.Faults {
			fmt.Fprintf(stdout, "FAULT %v\n", f)
		}
		fmt.Fprintf(stdout, "%s in %s and %d checkpoints: the log does not verify\n",
			plural(len(rep.Faults), "fault"), recordSpan(rep.First, rep.Records), rep.Checkpoints)
		return errFound
	}
	fmt.Fprintf(stdout, "ok: %s, %d consumer signatures, %d checkpoints (latest covers %d), verified in %s\n",
		recordSpan(rep.First, rep.Records), rep.Signed, rep.Checkpoints, rep.LastCheckpoint, time.Since(start).Round(time.Millisecond))
	if rep.UncoveredRecord > 0 {
		fmt.Fprintf(stdout, "note: the last %d records are not yet covered by a checkpoint (one is signed every second while records arrive)\n", rep.UncoveredRecord)
	}
	return nil
}

// parseDirAndKeys parses the flags of a command that reads log DIR against
// the trusted keys named by --keys; both are required.
func parseDirAndKeys(fs *flag.FlagSet, args []string, dir string, keysPath *string) (*audit.KeySet, error) {
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if dir == "" || *keysPath == "" {
		fs.Usage()
		return nil, errUsage
	}
	return audit.LoadKeySet(*keysPath)
}

func runAuditProof(_ context.Context, args []string, stdout, stderr io.Writer) error {
	dir, args := splitDir(args)
	fs := newFlagSet("audit proof", "audit proof DIR --index N --keys FILE", stderr)
	index := fs.Uint64("index", 0, "the record to prove")
	keysPath := fs.String("keys", "", keysHelp)
	keys, err := parseDirAndKeys(fs, args, dir, keysPath)
	if err != nil {
		return err
	}
	c, err := audit.LatestCheckpoint(dir, keys)
	if err != nil {
		return err
	}
	rec, err := audit.ReadRecord(dir, *index)
	if err != nil {
		return err
	}
	hashes, err := audit.Prove(dir, *index, c.Size)
	if err != nil {
		return err
	}
	r := audit.Receipt{Origin: c.Origin, Index: *index, Leaf: audit.Hasher{}.HashLeaf(rec)}
	if err := audit.VerifyReceipt(r, c, hashes); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "record %d is in log %s of size %d (checkpoint signed by %s, key %s)\n", *index, c.Origin, c.Size, c.KeyName, c.KeyID)
	fmt.Fprintf(stdout, "receipt: %s\n", r)
	fmt.Fprintln(stdout, "inclusion proof:")
	for _, h := range hashes {
		fmt.Fprintf(stdout, "  %s\n", base64.StdEncoding.EncodeToString(h))
	}
	fmt.Fprintf(stdout, "record: %s\ncheckpoint:\n%s", rec, c.Note)
	return nil
}

func runAuditReport(_ context.Context, args []string, stdout, stderr io.Writer) error {
	dir, args := splitDir(args)
	fs := newFlagSet("audit report", "audit report DIR [--from T] [--to T] [--csv]", stderr)
	from := fs.String("from", "", "first instant included, RFC 3339 or YYYY-MM-DD (default: the beginning)")
	to := fs.String("to", "", "first instant excluded, RFC 3339 or YYYY-MM-DD (default: now)")
	asCSV := fs.Bool("csv", false, "print CSV instead of a table")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if dir == "" {
		fs.Usage()
		return errUsage
	}
	lo, err := parseInstant(*from, time.Time{})
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	hi, err := parseInstant(*to, time.Now())
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	rows, err := audit.Report(dir, lo, hi)
	if err != nil {
		return err
	}
	return writeReport(stdout, rows, *asCSV)
}

func writeReport(w io.Writer, rows []audit.ReportRow, asCSV bool) error {
	header := []string{"consumer", "provider", "resource", "agreement", "allowed", "denied", "failed", "bytes_released"}
	lines := [][]string{header}
	for _, r := range rows {
		lines = append(lines, []string{r.Consumer, r.Provider, r.Resource, r.Agreement,
			strconv.Itoa(r.Allowed), strconv.Itoa(r.Denied), strconv.Itoa(r.Failed), strconv.FormatInt(r.BytesReleased, 10)})
	}
	if asCSV {
		cw := csv.NewWriter(w)
		cw.WriteAll(lines)
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, row := range lines {
		for i, c := range row {
			if c == "" {
				c = "-"
			}
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, c)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func parseInstant(s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.ParseInLocation("2006-01-02", s, time.FixedZone("CST", 8*3600))
}

func runAuditExport(_ context.Context, args []string, stdout, stderr io.Writer) error {
	dir, args := splitDir(args)
	fs := newFlagSet("audit export", "audit export DIR --out DIR", stderr)
	out := fs.String("out", "", "directory to create with the export")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if dir == "" || *out == "" {
		fs.Usage()
		return errUsage
	}
	first, end, err := audit.Export(dir, *out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "exported records %d–%d to %s; check it with: govgate audit verify %s --keys %s/keys.json\n", first, end, *out, *out, *out)
	return nil
}

// recordSpan names n records from index first: "19 records (indexes 0–18)", so that the
// count and the last index cannot be read as each other.
func recordSpan(first, n uint64) string {
	if n == 0 {
		return "0 records"
	}
	return fmt.Sprintf("%s (indexes %d–%d)", plural(int(n), "record"), first, first+n-1)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
