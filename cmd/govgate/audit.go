package main

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/policy"
)

func auditCmd() *cobra.Command {
	return group("audit", "verify the audit log offline, prove records, report sharing (auditors)",
		`Commands for auditors (审计管理员); they read the log DIR without changing it.
report and verify take --db URL to read the audit index (PostgreSQL) instead of a
directory; ship follows a log into the index, retain drops the index's months past
retention, each after its export verifies.
Every command takes --json for output a program reads (docs/architecture.md).`,
		auditVerifyCmd(), auditProofCmd(), auditReportCmd(), auditExportCmd(), auditShipCmd(), auditRetainCmd())
}

const keysHelp = "the audit public keys (keys.json) the auditor trusts — a copy kept apart from the log"

func auditVerifyCmd() *cobra.Command {
	return leaf("verify (DIR | --db URL --origin O) --keys FILE", "recompute every record hash, root and checkpoint signature; print every fault with its index, then the total (exit 1 when there is one)",
		maxArgs(1), func(fs *pflag.FlagSet) runFunc {
			keysPath := fs.String("keys", "", keysHelp)
			asJSON := fs.Bool("json", false, "print the report as JSON (docs/architecture.md): every fault, the counts, ok")
			dbURL := fs.String("db", "", dbHelp+": verify its rows of --origin instead of a directory")
			origin := fs.String("origin", "", "with --db: the log origin whose rows to verify")
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				if (len(args) == 1) == (*dbURL != "") {
					return usageErrorf("give the log DIR or --db URL, one of them")
				}
				if *dbURL != "" {
					return auditVerifyIndex(ctx, *dbURL, *origin, *keysPath, *asJSON, stdout)
				}
				return auditVerify(args[0], *keysPath, *asJSON, stdout, stderr)
			}
		})
}

func auditVerify(dir, keysPath string, asJSON bool, stdout, stderr io.Writer) error {
	keys, err := dirKeys(dir, keysPath, stderr)
	if err != nil {
		return err
	}
	start := time.Now()
	rep, err := audit.Verify(dir, keys)
	if rep == nil {
		return err
	}
	return printVerify(stdout, rep, asJSON, start)
}

// printVerify prints a verification report, of a directory or of the index.
func printVerify(stdout io.Writer, rep *audit.VerifyReport, asJSON bool, start time.Time) error {
	if asJSON {
		if rep.Faults == nil {
			rep.Faults = []*audit.Fault{}
		}
		if err := writeJSON(stdout, struct {
			OK bool `json:"ok"`
			*audit.VerifyReport
		}{len(rep.Faults) == 0, rep}); err != nil {
			return err
		}
		if len(rep.Faults) > 0 {
			return errFound
		}
		return nil
	}
	if len(rep.Faults) > 0 {
		// Every fault, one a line, then the total: a fault never hides a later one.
		for _, f := range rep.Faults {
			fmt.Fprintf(stdout, "FAULT %v\n", f)
		}
		fmt.Fprintf(stdout, "%s in %s and %s: the log does not verify\n",
			plural(len(rep.Faults), "fault"), recordSpan(rep.First, rep.Records), plural(rep.Checkpoints, "checkpoint"))
		return errFound
	}
	fmt.Fprintf(stdout, "ok: %s, %s, %s (latest covers %s), verified in %s\n",
		recordSpan(rep.First, rep.Records), plural(rep.Signed, "consumer signature"), plural(rep.Checkpoints, "checkpoint"), plural(int(rep.LastCheckpoint), "record"), time.Since(start).Round(time.Millisecond))
	if rep.UncoveredRecord > 0 {
		fmt.Fprintf(stdout, "note: the last %s are not yet covered by a checkpoint (one is signed every second while records arrive)\n", plural(int(rep.UncoveredRecord), "record"))
	}
	return nil
}

// dirKeys loads the trusted keys named by --keys, required, for a command that reads
// log DIR. Keys taken from DIR itself are accepted with a warning: they prove only that
// the files agree with each other.
func dirKeys(dir, keysPath string, stderr io.Writer) (*audit.KeySet, error) {
	if keysPath == "" {
		return nil, usageErrorf("--keys is required: the audit public keys you trust, kept apart from the log")
	}
	warnLogKeys(stderr, dir, keysPath)
	return audit.LoadKeySet(keysPath)
}

// warnLogKeys warns when the trusted keys are the key set inside the log (or export)
// being checked: whoever could rewrite the log could rewrite that file with it.
func warnLogKeys(stderr io.Writer, dir, keysPath string) {
	k, err1 := os.Stat(keysPath)
	own, err2 := os.Stat(filepath.Join(dir, "keys.json"))
	if err1 != nil || err2 != nil || !os.SameFile(k, own) {
		return
	}
	fmt.Fprintf(stderr, `WARNING: --keys %s is the key set inside %s itself. Whoever could change the log
WARNING: could change that file too, so this checks only that the files agree with each
WARNING: other. Verify against a copy of the audit keys kept apart from the log (from the
WARNING: gateway's key store or a copy taken when it began signing).
`, keysPath, dir)
}

func auditProofCmd() *cobra.Command {
	return leaf("proof DIR --index N --keys FILE", "the inclusion proof of one record, checked against the latest signed checkpoint",
		exactArgs(1), func(fs *pflag.FlagSet) runFunc {
			index := fs.Uint64("index", 0, "the record to prove")
			keysPath := fs.String("keys", "", keysHelp)
			asJSON := fs.Bool("json", false, "print the proof as JSON (docs/architecture.md)")
			return func(_ context.Context, args []string, stdout, stderr io.Writer) error {
				return auditProof(args[0], *index, *keysPath, *asJSON, stdout, stderr)
			}
		})
}

func auditProof(dir string, index uint64, keysPath string, asJSON bool, stdout, stderr io.Writer) error {
	keys, err := dirKeys(dir, keysPath, stderr)
	if err != nil {
		return err
	}
	c, err := audit.LatestCheckpoint(dir, keys)
	if err != nil {
		return err
	}
	if index >= c.Size {
		return fmt.Errorf("record %d is not covered by the latest checkpoint, of %s: prove it after the next checkpoint", index, plural(int(c.Size), "record"))
	}
	rec, err := audit.ReadRecord(dir, index)
	if err != nil {
		return err
	}
	hashes, err := audit.Prove(dir, index, c.Size)
	if err != nil {
		return err
	}
	r := audit.Receipt{Origin: c.Origin, Index: index, Leaf: audit.Hasher{}.HashLeaf(rec)}
	if err := audit.VerifyReceipt(r, c, hashes); err != nil {
		return err
	}
	proof := make([]string, len(hashes))
	for i, h := range hashes {
		proof[i] = base64.StdEncoding.EncodeToString(h)
	}
	if asJSON {
		return writeJSON(stdout, proofJSON{OK: true, Index: index, Origin: c.Origin, Size: c.Size, KeyName: c.KeyName, KeyID: c.KeyID,
			Receipt: r.String(), Proof: proof, Record: string(rec), Checkpoint: string(c.Note)})
	}
	fmt.Fprintf(stdout, "record %d is in log %s of %s (checkpoint signed by %s, key %s)\n", index, c.Origin, plural(int(c.Size), "record"), c.KeyName, c.KeyID)
	fmt.Fprintf(stdout, "receipt: %s\n", r)
	fmt.Fprintln(stdout, "inclusion proof:")
	for _, h := range proof {
		fmt.Fprintf(stdout, "  %s\n", h)
	}
	fmt.Fprintf(stdout, "record: %s\ncheckpoint:\n%s", rec, c.Note)
	return nil
}

// proofJSON is `audit proof --json` (docs/architecture.md).
type proofJSON struct {
	OK         bool     `json:"ok"` // the proof verified against the checkpoint
	Index      uint64   `json:"index"`
	Origin     string   `json:"origin"`
	Size       uint64   `json:"size"`
	KeyName    string   `json:"key_name"`
	KeyID      string   `json:"key_id"`
	Receipt    string   `json:"receipt"`
	Proof      []string `json:"proof"`  // base64 hashes, leaf to root
	Record     string   `json:"record"` // the record's stored bytes
	Checkpoint string   `json:"checkpoint"`
}

func auditReportCmd() *cobra.Command {
	return leaf("report (DIR | --db URL [--origin O,...]) [--from T] [--to T] [--by COLUMNS] [--policy DIR] [--csv|--json]",
		"data sharing per consumer, providing department, pool, resource, agreement and kind (or --by day, reason, ...): allowed, denied, failed, bytes",
		maxArgs(1), func(fs *pflag.FlagSet) runFunc {
			from := fs.String("from", "", "first instant included, RFC 3339 or YYYY-MM-DD in Beijing time (default: the beginning)")
			to := fs.String("to", "", "first instant excluded, RFC 3339 or YYYY-MM-DD in Beijing time (default: now)")
			by := fs.String("by", audit.FormatReportBy(audit.DefaultReportBy()), "comma-separated columns to group and sort by, in the order given, of: "+audit.FormatReportBy(audit.ReportDims())+
				" (day is the day in Beijing time; reason the policy's reason codes or the error code)")
			policyDir := fs.String("policy", "", "the gateway's policy directory (policy.dir): its catalog names the department providing each resource (without it the provider column is empty; records name the pool)")
			asCSV := fs.Bool("csv", false, "print CSV instead of a table")
			asJSON := fs.Bool("json", false, "print JSON (docs/architecture.md) instead of a table")
			dbURL := fs.String("db", "", dbHelp+": report over every gateway shipped there instead of a directory")
			origins := fs.String("origin", "", "with --db: only these log origins, comma-separated (default: all)")
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				if *asCSV && *asJSON {
					return usageErrorf("--csv and --json: give one")
				}
				if (len(args) == 1) == (*dbURL != "") {
					return usageErrorf("give the log DIR or --db URL, one of them")
				}
				src := reportSource{dbURL: *dbURL, origins: *origins}
				if len(args) == 1 {
					src.dir = args[0]
				}
				return auditReport(ctx, src, *from, *to, *by, *policyDir, *asCSV, *asJSON, stdout, stderr)
			}
		})
}

// reportSource is what a report reads: a log directory, or the audit index.
type reportSource struct{ dir, dbURL, origins string }

func auditReport(ctx context.Context, src reportSource, from, to, by, policyDir string, asCSV, asJSON bool, stdout, stderr io.Writer) error {
	opts := audit.ReportOptions{}
	var err error
	if opts.By, err = audit.ParseReportBy(by); err != nil {
		return usageErrorf("--by: %w", err)
	}
	if opts.From, err = parseInstant(from, time.Time{}); err != nil {
		return usageErrorf("--from: %w", err)
	}
	if opts.To, err = parseInstant(to, time.Now()); err != nil {
		return usageErrorf("--to: %w", err)
	}
	if policyDir != "" {
		if opts.ProviderDept, err = catalogOwners(ctx, policyDir); err != nil {
			return err
		}
	} else if slices.Contains(opts.By, audit.ByProvider) {
		fmt.Fprintln(stderr, "note: no --policy: the provider column (the providing department) is empty; the pool column names the pool")
	}
	var rows []audit.ReportRow
	if src.dbURL != "" {
		rows, err = reportFromIndex(ctx, src.dbURL, src.origins, opts)
	} else {
		rows, err = audit.Report(src.dir, opts)
	}
	if err != nil {
		return err
	}
	switch {
	case asJSON:
		return writeJSON(stdout, reportJSON{From: timeOrNil(opts.From), To: opts.To, By: opts.By, Rows: rows})
	case asCSV:
		return writeReportCSV(stdout, opts.By, rows)
	}
	return writeReportTable(stdout, opts.By, rows)
}

// reportJSON is `audit report --json` (docs/architecture.md).
type reportJSON struct {
	From *time.Time        `json:"from"` // null: from the beginning
	To   time.Time         `json:"to"`
	By   []audit.ReportDim `json:"by"`
	Rows []audit.ReportRow `json:"rows"`
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// catalogOwners reads the policy directory's catalog: the owner of each resource is the
// department that provides it.
func catalogOwners(ctx context.Context, dir string) (func(string) string, error) {
	files, err := policy.ReadFiles(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("--policy %s: %w", dir, err)
	}
	rev, err := policy.Compile(ctx, files)
	if err != nil {
		return nil, fmt.Errorf("--policy %s: %w", dir, err)
	}
	catalog := rev.Data().Catalog
	return func(resource string) string { return catalog[resource].Owner }, nil
}

func reportLines(by []audit.ReportDim, rows []audit.ReportRow) [][]string {
	header := make([]string, 0, len(by)+4)
	for _, d := range by {
		header = append(header, string(d))
	}
	lines := [][]string{append(header, "allowed", "denied", "failed", "bytes_released")}
	for _, r := range rows {
		line := make([]string, 0, len(header))
		for _, d := range by {
			line = append(line, r.Get(d))
		}
		lines = append(lines, append(line, strconv.Itoa(r.Allowed), strconv.Itoa(r.Denied), strconv.Itoa(r.Failed), strconv.FormatInt(r.BytesReleased, 10)))
	}
	return lines
}

func writeReportCSV(w io.Writer, by []audit.ReportDim, rows []audit.ReportRow) error {
	cw := csv.NewWriter(w)
	cw.WriteAll(reportLines(by, rows))
	return cw.Error()
}

func writeReportTable(w io.Writer, by []audit.ReportDim, rows []audit.ReportRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, row := range reportLines(by, rows) {
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

func auditExportCmd() *cobra.Command {
	return leaf("export DIR --out DIR", "copy the log up to its latest checkpoint into a directory that verifies, proves and reports alone",
		exactArgs(1), func(fs *pflag.FlagSet) runFunc {
			out := fs.String("out", "", "directory to create (or an empty one) with the export")
			asJSON := fs.Bool("json", false, "print what was exported as JSON (docs/architecture.md)")
			return func(_ context.Context, args []string, stdout, _ io.Writer) error {
				if *out == "" {
					return usageErrorf("--out is required")
				}
				return auditExport(args[0], *out, *asJSON, stdout)
			}
		})
}

func auditExport(dir, out string, asJSON bool, stdout io.Writer) error {
	ex, err := audit.Export(dir, out)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, exportJSON{Out: out, First: ex.First, End: ex.End, Records: ex.End - ex.First,
			Origin: ex.Checkpoint.Origin, CheckpointSize: ex.Checkpoint.Size})
	}
	fmt.Fprintf(stdout, `exported %s to %s, with the checkpoint of %s that covers them all.
Records after that checkpoint (at most a checkpoint interval's) are not exported: the next
export takes them.
Verify it against the audit keys kept apart from the log — not %s, which
came with the export and proves nothing about it:
  govgate audit verify %s --keys TRUSTED-keys.json
  govgate audit proof %s --index N --keys TRUSTED-keys.json
`, recordSpan(ex.First, ex.End-ex.First), out, plural(int(ex.Checkpoint.Size), "record"), filepath.Join(out, "keys.json"), out, out)
	return nil
}

// exportJSON is `audit export --json` (docs/architecture.md).
type exportJSON struct {
	Out            string `json:"out"`
	First          uint64 `json:"first"`
	End            uint64 `json:"end"` // exclusive: records [first, end)
	Records        uint64 `json:"records"`
	Origin         string `json:"origin"`
	CheckpointSize uint64 `json:"checkpoint_size"`
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
