package main

import (
	"context"
	"errors"
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
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

func auditShipCmd() *cobra.Command {
	return leaf("ship [DIR] --db URL [--keys FILE] [--migrate] [--once] [--batch N] [--writers N] [--poll D] [--recheck D] [--policy DIR] [--metrics ADDR]",
		"follow the log into the audit index (PostgreSQL, --db), verifying as it goes; --migrate applies the index's schema", maxArgs(1), func(fs *pflag.FlagSet) runFunc {
			o := shipOptions{}
			fs.StringVar(&o.dbURL, "db", "", dbHelp)
			fs.StringVar(&o.keysPath, "keys", "", keysHelp+" (required with DIR)")
			fs.BoolVar(&o.migrate, "migrate", false, "apply the index's schema migrations first (alone when no DIR is given)")
			fs.BoolVar(&o.once, "once", false, "ship what a checkpoint covers now, then exit (default: follow the log until stopped)")
			fs.IntVar(&o.batch, "batch", ship.DefaultBatch, "records per transaction")
			fs.IntVar(&o.writers, "writers", ship.DefaultWriters, "connections writing batches at once (one is copied while the one before commits; commits stay in order)")
			fs.DurationVar(&o.poll, "poll", ship.DefaultPoll, "how often to look for new checkpoints")
			fs.DurationVar(&o.recheck, "recheck", ship.DefaultRecheck, "how often to compare the shipped records still on disk with the index (and at start)")
			fs.StringVar(&o.policyDir, "policy", "", "the gateway's policy directory: its catalog fills the provider_dept column (default: empty)")
			fs.StringVar(&o.metricsAddr, "metrics", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9465); default: none")
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				if len(args) == 1 {
					o.dir = args[0]
				}
				return auditShip(ctx, o, stdout, stderr)
			}
		})
}

// shipOptions are audit ship's flags.
type shipOptions struct {
	dir, dbURL, keysPath, policyDir, metricsAddr string
	migrate, once                                bool
	batch, writers                               int
	poll, recheck                                time.Duration
}

func auditShip(ctx context.Context, o shipOptions, stdout, stderr io.Writer) error {
	switch {
	case o.dbURL == "":
		return usageErrorf("--db is required")
	case o.dir == "" && !o.migrate:
		return usageErrorf("give the log DIR (or --migrate alone)")
	case o.dir != "" && o.keysPath == "":
		return usageErrorf("--keys is required with DIR: the audit public keys you trust")
	case o.batch <= 0:
		return usageErrorf("--batch must be positive")
	case o.writers <= 0:
		return usageErrorf("--writers must be positive")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	db, err := connectIndex(ctx, o.dbURL)
	if err != nil {
		return err
	}
	defer db.Close(context.Background())
	if o.migrate {
		applied, err := index.Migrate(ctx, db)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "audit index schema at version %d (applied now: %v)\n", index.SchemaVersion(), applied)
		if o.dir == "" {
			return nil
		}
	}
	warnLogKeys(stderr, o.dir, o.keysPath)
	keys, err := audit.LoadKeySet(o.keysPath)
	if err != nil {
		return err
	}
	var writers []*pgx.Conn
	for range o.writers - 1 {
		w, err := connectIndex(ctx, o.dbURL)
		if err != nil {
			return err
		}
		defer w.Close(context.Background())
		writers = append(writers, w)
	}
	opts := ship.Options{Dir: o.dir, Keys: keys, DB: db, Writers: writers, Batch: o.batch, Poll: o.poll, Recheck: o.recheck,
		Logger: slog.New(slog.NewTextHandler(stderr, nil))}
	if o.policyDir != "" {
		if opts.ProviderDept, err = catalogOwners(ctx, o.policyDir); err != nil {
			return err
		}
	}
	s, err := ship.New(ctx, opts)
	if err != nil {
		return err
	}
	if o.metricsAddr != "" {
		if err := serveShipMetrics(ctx, o.metricsAddr, s); err != nil {
			return err
		}
	}
	if o.once {
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

// auditVerifyIndex is `audit verify --db URL --origin O --keys FILE`.
func auditVerifyIndex(ctx context.Context, url, origin, keysPath string, asJSON bool, stdout io.Writer) error {
	if origin == "" || keysPath == "" {
		return usageErrorf("--db needs --origin and --keys")
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

func auditRetainCmd() *cobra.Command {
	return leaf("retain --db URL --keys FILE[,FILE...] --export-dir DIR [--retention D] [--gateway-retention D] [--json]",
		"drop the index's months past retention, each after its export verifies", noArgs, func(fs *pflag.FlagSet) runFunc {
			dbURL := fs.String("db", "", dbHelp)
			keysPaths := fs.String("keys", "", "the audit public keys of every origin in the index, comma-separated files (each kept apart from its log)")
			exportDir := fs.String("export-dir", "", "where each month's exports are written before it is dropped: DIR/records_YYYYMM/<origin>")
			retention := fs.Duration("retention", index.DefaultRetention, "drop the months whose records are all older than this")
			gwRetention := fs.Duration("gateway-retention", 180*24*time.Hour, "the gateway's audit.retention: --retention may not be less")
			asJSON := fs.Bool("json", false, jsonHelp)
			return func(ctx context.Context, _ []string, stdout, _ io.Writer) error {
				if *dbURL == "" || *keysPaths == "" || *exportDir == "" {
					return usageErrorf("--db, --keys and --export-dir are required")
				}
				return auditRetain(ctx, *dbURL, *keysPaths, *exportDir, *retention, *gwRetention, *asJSON, stdout)
			}
		})
}

func auditRetain(ctx context.Context, dbURL, keysPaths, exportDir string, retention, gwRetention time.Duration, asJSON bool, stdout io.Writer) error {
	keys := &audit.KeySet{}
	for _, p := range strings.Split(keysPaths, ",") {
		ks, err := audit.LoadKeySet(p)
		if err != nil {
			return err
		}
		keys.Keys = append(keys.Keys, ks.Keys...)
	}
	db, err := connectIndex(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close(context.Background())
	if err := index.CheckSchema(ctx, db); err != nil {
		return err
	}
	dropped, err := index.Retain(ctx, db, index.RetainOptions{Retention: retention, GatewayRetention: gwRetention, ExportDir: exportDir, Keys: keys})
	if asJSON {
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
