package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// runHealthcheck asks an admin probe (/readyz by default) and exits 0 on a 2xx answer.
// It exists because the container image is distroless — no shell, no curl — so its
// HEALTHCHECK has only this binary to probe with; scripts use --wait to block until a
// gateway they started is ready.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("healthcheck", "healthcheck [--url URL] [--timeout D] [--wait D]", stderr)
	url := fs.String("url", "http://127.0.0.1:9090/readyz", "the probe to ask: the admin API's /readyz (every stage loaded) or /healthz (process up)")
	timeout := fs.Duration("timeout", 5*time.Second, "time limit for one probe")
	wait := fs.Duration("wait", 0, "keep probing, once every 200ms, until ready or this long has passed; 0 probes once")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	deadline := time.Now().Add(*wait)
	for {
		status, err := probe(ctx, *url, *timeout)
		if err == nil && status/100 == 2 {
			fmt.Fprintf(stdout, "ready: %s answered %d\n", *url, status)
			return nil
		}
		if err == nil {
			err = fmt.Errorf("%s answered %d", *url, status)
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("not ready: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w", err)
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
