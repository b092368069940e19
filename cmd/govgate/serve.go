package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/assemble"
)

// logFlags are the logging flags every long-running command shares.
type logFlags struct {
	level  string
	format string
}

func (l *logFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&l.level, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&l.format, "log-format", "text", "log format: text or json")
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", l.level, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", l.format)
	}
}

func serveCmd() *cobra.Command {
	return leaf("serve -c govgate.yaml [flags]", "run the gateway from a YAML config file", noArgs, func(fs *pflag.FlagSet) runFunc {
		path := fs.StringP("config", "c", "govgate.yaml", "path of the YAML config file (see examples/govgate.yaml)")
		var lf logFlags
		lf.register(fs)
		return func(ctx context.Context, _ []string, _, stderr io.Writer) error {
			return serve(ctx, *path, lf, stderr)
		}
	})
}

func serve(ctx context.Context, path string, lf logFlags, stderr io.Writer) error {
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		return err
	}
	if m := gateway.SetRuntimeMemory(cfg.Limits); len(m.Overridden) > 0 {
		log.Warn("runtime memory: the environment overrides limits.memory_limit/gc_percent", "overridden_by", m.Overridden, "limit_bytes", m.Limit, "gc_percent", m.GCPercent)
	} else if cfg.Limits.MemoryLimit > 0 {
		log.Info("runtime memory", "limit_bytes", m.Limit, "gc_percent", m.GCPercent)
	}
	source := func() (*gateway.Config, error) { return gateway.LoadConfig(path) }
	return runGateway(ctx, cfg, assemble.Options{Logger: log, Source: source}, nil)
}

// runGateway builds the gateway through the assembly, starts it and runs it until a
// signal; started, when set, is told of the running gateway. Everything the assembly
// built is released after the gateway has shut down.
func runGateway(ctx context.Context, cfg *gateway.Config, opts assemble.Options, started func(*gateway.Gateway)) (err error) {
	a, err := assemble.Build(ctx, cfg, opts)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := a.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	if err := a.Gateway.Start(); err != nil {
		return err
	}
	if started != nil {
		started(a.Gateway)
	}
	return runUntilSignal(ctx, a.Gateway, opts.Logger)
}

// runUntilSignal runs a started gateway until SIGTERM or SIGINT (or ctx ends), reloading on
// SIGHUP. Shutdown waits up to limits.shutdown_timeout for in-flight exchanges.
func runUntilSignal(ctx context.Context, g *gateway.Gateway, log *slog.Logger) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for {
		select {
		case <-ctx.Done():
			return shutdown(g, log, ctx.Err().Error())
		case s := <-sigs:
			if s == syscall.SIGHUP {
				// Recorded as POST /reload is, and logged by the gateway when refused.
				_ = g.ReloadOnSignal("SIGHUP")
				continue
			}
			return shutdown(g, log, s.String())
		}
	}
}

func shutdown(g *gateway.Gateway, log *slog.Logger, why string) error {
	timeout := g.Config().Limits.ShutdownTimeout
	log.Info("shutting down", "reason", why, "deadline", timeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func configCmd() *cobra.Command {
	return leaf("config -c govgate.yaml", "validate a config file and print it with defaults applied", noArgs, func(fs *pflag.FlagSet) runFunc {
		path := fs.StringP("config", "c", "govgate.yaml", "path of the YAML config file to validate")
		asJSON := fs.Bool("json", false, "print the verdict and the config with defaults applied as JSON (docs/architecture.md)")
		return func(_ context.Context, _ []string, stdout, _ io.Writer) error {
			return validateConfig(*path, *asJSON, stdout)
		}
	})
}

// configJSON is `config --json` (docs/architecture.md); a config that does not validate
// is {"ok": false, "error": "..."}.
type configJSON struct {
	OK     bool           `json:"ok"`
	Path   string         `json:"path"`
	Config map[string]any `json:"config"` // the YAML's keys, defaults applied, secrets redacted
}

func validateConfig(path string, asJSON bool, stdout io.Writer) error {
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		return err
	}
	out, err := cfg.Redacted().YAML()
	if err != nil {
		return err
	}
	if asJSON {
		var m map[string]any
		if err := yaml.Unmarshal(out, &m); err != nil {
			return fmt.Errorf("config as JSON: %w", err)
		}
		return writeJSON(stdout, configJSON{OK: true, Path: path, Config: m})
	}
	_, err = stdout.Write(out)
	return err
}
