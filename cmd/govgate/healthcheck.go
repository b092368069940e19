package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runHealthcheck asks an admin probe (/readyz by default) and exits 0 on a 2xx answer.
// It exists because the container image is distroless — no shell, no curl — so its
// HEALTHCHECK has only this binary to probe with; scripts use --wait to block until a
// gateway they started is ready.
func healthcheckCmd() *cobra.Command {
	return leaf("healthcheck [--url URL] [--timeout D] [--wait D]", "probe the admin API's /readyz: exit 0 when ready (container HEALTHCHECK)", noArgs, func(fs *pflag.FlagSet) runFunc {
		url := fs.String("url", "http://127.0.0.1:9090/readyz", "the probe to ask: the admin API's /readyz (every stage loaded) or /healthz (process up)")
		timeout := fs.Duration("timeout", 5*time.Second, "time limit for one probe")
		wait := fs.Duration("wait", 0, "keep probing, once every 200ms, until ready or this long has passed; 0 probes once")
		asJSON := fs.Bool("json", false, jsonHelp)
		return func(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
			status, err := healthcheck(ctx, *url, *timeout, *wait)
			if *asJSON {
				hj := healthJSON{OK: err == nil, URL: *url, Status: status}
				if err != nil {
					hj.Error = err.Error()
				}
				if jerr := writeJSON(stdout, hj); jerr != nil {
					return jerr
				}
			}
			switch {
			case err != nil && *asJSON:
				fmt.Fprintf(stderr, "govgate healthcheck: %v\n", err)
				return errFound
			case err != nil:
				return err
			case !*asJSON:
				fmt.Fprintf(stdout, "ready: %s answered %d\n", *url, status)
			}
			return nil
		}
	})
}

// healthJSON is `healthcheck --json` (docs/architecture.md).
type healthJSON struct {
	OK     bool   `json:"ok"`
	URL    string `json:"url"`
	Status int    `json:"status"` // of the last probe; 0 when none was answered
	Error  string `json:"error,omitempty"`
}

// healthcheck probes until a 2xx answer or wait has passed, returning the last status.
func healthcheck(ctx context.Context, url string, timeout, wait time.Duration) (int, error) {
	deadline := time.Now().Add(wait)
	for {
		status, err := probe(ctx, url, timeout)
		if err == nil && status/100 == 2 {
			return status, nil
		}
		if err == nil {
			err = fmt.Errorf("%s answered %d", url, status)
		}
		if !time.Now().Before(deadline) {
			return status, fmt.Errorf("not ready: %w", err)
		}
		select {
		case <-ctx.Done():
			return status, fmt.Errorf("not ready: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// probe makes one GET and returns the status; the body is drained and dropped.
func probe(ctx context.Context, url string, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("probe %s: %w", url, err)
	}
	// A probe answers for itself: a redirect is not ready, and is not followed elsewhere.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("probe %s: no answer within %s", url, timeout)
		}
		return 0, fmt.Errorf("probe %s: %w", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, nil
}
