package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/audit/index"
	"github.com/govgate/govgate/audit/ship"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The audit index commands: `audit ship`, `audit retain`, and the --db branches of
// `audit report` and `audit verify`. All logic is in audit/ship and audit/index.

const dbHelp = "the audit index: a PostgreSQL URL (postgres://user@host:5432/db?sslmode=...)"

func connectIndex(ctx context.Context, url string) (*pgx.Conn, error) {
	db, err := pgx.Connect(ctx, url)
	if err != nil {
		// pgx's error names the host and user, never the password.
		return nil, fmt.Errorf("connect to the audit index: %w", err)
	}
	return db, nil
}

func runAuditShip(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	dir, args := splitDir(args)
	fs := newFlagSet("audit ship", "audit ship [DIR] --db URL [--keys FILE] [--migrate] [--once] [--batch N] [--poll D] [--recheck D] [--policy DIR] [--metrics ADDR]", stderr)
	dbURL := fs.String("db", "", dbHelp)
	keysPath := fs.String("keys", "", keysHelp+" (required with DIR)")
	migrate := fs.Bool("migrate", false, "apply the index's schema migrations first (alone when no DIR is given)")
	once := fs.Bool("once", false, "ship what a checkpoint covers now, then exit (default: follow the log until stopped)")
	batch := fs.Int("batch", ship.DefaultBatch, "records per transaction")
	poll := fs.Duration("poll", ship.DefaultPoll, "how often to look for new checkpoints")
	recheck := fs.Duration("recheck", ship.DefaultRecheck, "how often to compare the shipped records still on disk with the index (and at start)")
	policyDir := fs.String("policy", "", "the gateway's policy directory: its catalog fills the provider_dept column (default: empty)")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9465); default: none")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dbURL == "" || (dir == "" && !*migrate) || (dir != "" && *keysPath == "") || *batch <= 0 {
		fs.Usage()
		return errUsage
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	db, err := connectIndex(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close(context.Background())
	if *migrate {
		applied, err := index.Migrate(ctx, db)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "audit index schema at version %d (applied now: %v)\n", index.SchemaVersion(), applied)
		if dir == "" {
			return nil
		}
	}
	warnLogKeys(stderr, dir, *keysPath)
	keys, err := audit.LoadKeySet(*keysPath)
	if err != nil {
		return err
	}
	opts := ship.Options{Dir: dir, Keys: keys, DB: db, Batch: *batch, Poll: *poll, Recheck: *recheck,
		Logger: slog.New(slog.NewTextHandler(stderr, nil))}
	if *policyDir != "" {
		if opts.ProviderDept, err = catalogOwners(ctx, *policyDir); err != nil {
			return err
		}
	}
	s, err := ship.New(ctx, opts)
	if err != nil {
		return err
	}
	if *metricsAddr != "" {
		if err := serveShipMetrics(ctx, *metricsAddr, s); err != nil {
			return err
		}
	}
	if *once {
		res, err := s.Once(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "shipped %s and %s of %s; the index holds its records up to %d\n",
			plural(int(res.Records), "record"), plural(res.Checkpoints, "checkpoint"), res.Origin, res.Next)
		return nil
	}
	return s.Run(ctx)
}

func serveShipMetrics(ctx context.Context, addr string, s *ship.Shipper) error {
	reg := prometheus.NewRegistry()
	if err := reg.Register(s); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--metrics %s: %w", addr, err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	context.AfterFunc(ctx, func() { srv.Close() })
	return nil
}

// reportFromIndex is `audit report --db`: the same rows as the file-based report.
func reportFromIndex(ctx context.Context, url, origins string, opts audit.ReportOptions) ([]audit.ReportRow, error) {
	db, err := connectIndex(ctx, url)
	if err != nil {
		return nil, err
	}
	defer db.Close(context.Background())
	if err := index.CheckSchema(ctx, db); err != nil {
		return nil, err
	}
	var list []string
	if origins != "" {
		list = strings.Split(origins, ",")
	}
	return index.Report(ctx, db, opts, list)
}

// runAuditVerifyIndex is `audit verify --db URL --origin O --keys FILE`.
func runAuditVerifyIndex(ctx context.Context, fs *flag.FlagSet, url, origin, keysPath string, asJSON bool, stdout io.Writer) error {
	if origin == "" || keysPath == "" {
		fs.Usage()
		return errUsage
	}
	keys, err := audit.LoadKeySet(keysPath)
	if err != nil {
		return err
	}
	db, err := connectIndex(ctx, url)
	if err != nil {
		return err
	}
	defer db.Close(context.Background())
	if err := index.CheckSchema(ctx, db); err != nil {
		return err
	}
	start := time.Now()
	rep, err := index.Verify(ctx, db, origin, keys)
	if rep == nil {
		return err
	}
	return printVerify(stdout, rep, asJSON, start)
}

func runAuditRetain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit retain", "audit retain --db URL --keys FILE[,FILE...] --export-dir DIR [--retention D] [--gateway-retention D] [--json]", stderr)
	dbURL := fs.String("db", "", dbHelp)
	keysPaths := fs.String("keys", "", "the audit public keys of every origin in the index, comma-separated files (each kept apart from its log)")
	exportDir := fs.String("export-dir", "", "where each month's exports are written before it is dropped: DIR/records_YYYYMM/<origin>")
	retention := fs.Duration("retention", index.DefaultRetention, "drop the months whose records are all older than this")
	gwRetention := fs.Duration("gateway-retention", 180*24*time.Hour, "the gateway's audit.retention: --retention may not be less")
	asJSON := fs.Bool("json", false, "print the months dropped and their exports as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dbURL == "" || *keysPaths == "" || *exportDir == "" {
		fs.Usage()
		return errUsage
	}
	keys := &audit.KeySet{}
	for _, p := range strings.Split(*keysPaths, ",") {
		ks, err := audit.LoadKeySet(p)
		if err != nil {
			return err
		}
		keys.Keys = append(keys.Keys, ks.Keys...)
	}
	db, err := connectIndex(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close(context.Background())
	if err := index.CheckSchema(ctx, db); err != nil {
		return err
	}
	dropped, err := index.Retain(ctx, db, index.RetainOptions{Retention: *retention, GatewayRetention: *gwRetention, ExportDir: *exportDir, Keys: keys})
	if *asJSON {
		if jerr := writeJSON(stdout, dropped); jerr != nil {
			return errors.Join(err, jerr)
		}
	} else {
		for _, d := range dropped {
			fmt.Fprintf(stdout, "dropped %s after its exports verified:\n", d.Partition)
			for origin, dir := range d.Exports {
				fmt.Fprintf(stdout, "  %s: %s\n", origin, dir)
			}
		}
		if err == nil && len(dropped) == 0 {
			fmt.Fprintln(stdout, "no month is past retention")
		}
	}
	return err
}
