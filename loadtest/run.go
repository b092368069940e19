package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

// Target sends one request and returns the response status.
type Target interface {
	Do(ctx context.Context) (status int, err error)
}

// Options say how hard and how long to load.
type Options struct {
	Conns    int           // concurrent connections (workers); default 1
	Rate     float64       // requests per second, open loop; 0 runs closed loop
	Duration time.Duration // how long to send; default 10 s
	Requests int64         // stop after this many requests (0: only Duration)
	Progress io.Writer     // a one-line progress display, rewritten every second; nil for none
}

// Result is what a run measured. Latencies are in microseconds.
type Result struct {
	Mode       string           `json:"mode"` // closed or open
	Conns      int              `json:"conns"`
	Rate       float64          `json:"rate,omitempty"`
	Requests   int64            `json:"requests"`
	OK         int64            `json:"ok"`
	Errors     map[string]int64 `json:"errors"`
	Elapsed    time.Duration    `json:"elapsed_ns"`
	Throughput float64          `json:"throughput"` // completed requests per second
	Latency    Percentiles      `json:"latency_us"`
	hist       *hdrhistogram.Histogram
}

// Percentiles of the latency distribution, in microseconds.
type Percentiles struct {
	P50, P90, P99, P999, Max int64
	Mean                     float64
}

// maxLatency bounds what the histogram records: 60 s, at 3 significant digits.
const maxLatencyMicros = 60_000_000

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, maxLatencyMicros, 3) }

// worker is one connection's share of the run, merged at the end.
type worker struct {
	hist   *hdrhistogram.Histogram
	ok     int64
	errors map[string]int64
}

func (w *worker) record(start time.Time, status int, err error) {
	us := time.Since(start).Microseconds()
	if us < 1 {
		us = 1
	}
	w.hist.RecordValue(min(us, maxLatencyMicros))
	switch kind := errorKind(status, err); kind {
	case "":
		w.ok++
	default:
		w.errors[kind]++
	}
}

// errorKind names why a request failed, or "" for a 2xx or 3xx answer.
func errorKind(status int, err error) string {
	var ne net.Error
	switch {
	case err == nil && status < 400:
		return ""
	case err == nil:
		return fmt.Sprintf("status %d", status)
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	default:
		return "connection"
	}
}

// Run loads t until Duration passes, Requests are sent, or ctx ends.
func Run(ctx context.Context, t Target, opts Options) (*Result, error) {
	if opts.Conns <= 0 {
		opts.Conns = 1
	}
	if opts.Duration <= 0 {
		opts.Duration = 10 * time.Second
	}
	if opts.Rate < 0 {
		return nil, errors.New("loadtest: negative rate")
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	workers := make([]*worker, opts.Conns)
	for i := range workers {
		workers[i] = &worker{hist: newHist(), errors: map[string]int64{}}
	}
	var sent atomic.Int64
	start := time.Now()
	stopProgress := progress(opts.Progress, start, &sent, workers)
	if opts.Rate > 0 {
		runOpen(ctx, t, opts, workers, &sent)
	} else {
		runClosed(ctx, t, opts, workers, &sent)
	}
	elapsed := time.Since(start)
	stopProgress()
	return summarise(opts, workers, elapsed), nil
}

// runClosed: each worker sends its next request as soon as the last is answered.
func runClosed(ctx context.Context, t Target, opts Options, workers []*worker, sent *atomic.Int64) {
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if n := sent.Add(1); opts.Requests > 0 && n > opts.Requests {
					return
				}
				// A request is not cut off by the end of the run: it finishes and counts,
				// and the run ends with the last answers. (Cutting it at the run's deadline
				// would report every request in flight, and each sent after, as a timeout.)
				t0 := time.Now()
				status, err := t.Do(context.Background())
				w.record(t0, status, err)
			}
		}()
	}
	wg.Wait()
}

// runOpen: requests fall due at a fixed rate whatever the server does; each is measured
// from when it was due, so time spent waiting for a free connection counts.
func runOpen(ctx context.Context, t Target, opts Options, workers []*worker, sent *atomic.Int64) {
	due := make(chan time.Time, 1<<16)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for at := range due {
				status, err := t.Do(context.Background())
				w.record(at, status, err)
			}
		}()
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / opts.Rate)
	for i := int64(0); opts.Requests == 0 || i < opts.Requests; i++ {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		sent.Add(1)
		due <- at
	}
	close(due)
	wg.Wait()
}

func summarise(opts Options, workers []*worker, elapsed time.Duration) *Result {
	r := &Result{Mode: "closed", Conns: opts.Conns, Errors: map[string]int64{}, Elapsed: elapsed, hist: newHist()}
	if opts.Rate > 0 {
		r.Mode, r.Rate = "open", opts.Rate
	}
	for _, w := range workers {
		r.hist.Merge(w.hist)
		r.OK += w.ok
		for k, v := range w.errors {
			r.Errors[k] += v
		}
	}
	r.Requests = r.hist.TotalCount()
	r.Throughput = float64(r.Requests) / elapsed.Seconds()
	r.Latency = Percentiles{
		P50: r.hist.ValueAtQuantile(50), P90: r.hist.ValueAtQuantile(90), P99: r.hist.ValueAtQuantile(99),
		P999: r.hist.ValueAtQuantile(99.9), Max: r.hist.Max(), Mean: r.hist.Mean(),
	}
	return r
}

// progress rewrites one line every second until stopped.
func progress(w io.Writer, start time.Time, sent *atomic.Int64, workers []*worker) func() {
	if w == nil {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprintln(w)
				return
			case now := <-tick.C:
				s := now.Sub(start).Seconds()
				fmt.Fprintf(w, "\r%6.1fs  %10d sent  %10.0f sent/s", s, sent.Load(), float64(sent.Load())/s)
			}
		}
	}()
	return func() { close(stop); <-done }
}

// ErrorKinds lists the result's error kinds, most frequent first.
func (r *Result) ErrorKinds() []string {
	kinds := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return r.Errors[kinds[i]] > r.Errors[kinds[j]] })
	return kinds
}

// Summary is the human-readable result.
func (r *Result) Summary() string {
	s := fmt.Sprintf("%s loop, %d connections", r.Mode, r.Conns)
	if r.Mode == "open" {
		s += fmt.Sprintf(", %.0f requests/s offered", r.Rate)
	}
	s += fmt.Sprintf("\n%d requests in %s: %.0f requests/s, %d ok\nlatency µs: p50 %d  p90 %d  p99 %d  p99.9 %d  max %d  mean %.0f\n",
		r.Requests, r.Elapsed.Round(time.Millisecond), r.Throughput, r.OK,
		r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.P999, r.Latency.Max, r.Latency.Mean)
	for _, k := range r.ErrorKinds() {
		s += fmt.Sprintf("errors: %d %s\n", r.Errors[k], k)
	}
	return s
}
