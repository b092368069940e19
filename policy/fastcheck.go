package policy

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// DefaultFastPathCheckInputs is how many generated inputs the differential check runs a
// new revision on, by default, before its fast path may decide anything.
const DefaultFastPathCheckInputs = 512

// FastPathReport is what the differential check of one revision found.
type FastPathReport struct {
	// Enabled is true when the revision's decisions take the fast path.
	Enabled bool `json:"enabled"`
	// Reason says why the fast path is off, when it is.
	Reason string `json:"reason,omitempty"`
	// Inputs is how many inputs both paths decided; Declined how many of them the fast
	// path could not decide (those take the full evaluation live as well).
	Inputs   int           `json:"inputs"`
	Declined int           `json:"declined"`
	Duration time.Duration `json:"duration_ns"`
}

// ErrFastPathDiffers is wrapped by the error of a revision whose fast path decided an
// input otherwise than the full evaluation. Such a revision does not go live.
var ErrFastPathDiffers = errors.New("decision fast path differs from the full policy")

// CheckFastPath runs the differential check: the revision's planned decision query and
// its full evaluation decide the same n generated inputs (DefaultFastPathCheckInputs when
// n is 0), and any input on which the fast path gives an answer the full evaluation does
// not give is an error wrapping ErrFastPathDiffers, naming the input and both answers.
// Only after it passes do the revision's decisions take the fast path; n < 0 leaves the
// fast path off. A revision without a plan passes with the fast path off.
func (rev *Revision) CheckFastPath(ctx context.Context, n int) (*FastPathReport, error) {
	start := time.Now()
	rep := &FastPathReport{}
	switch {
	case n < 0:
		rep.Reason = "disabled by configuration"
	case rev.plan == nil:
		rep.Reason = fmt.Sprintf("the policy cannot be planned: %v", rev.planErr)
	}
	if rep.Reason != "" {
		rev.fastReport = rep
		return rep, nil
	}
	if n == 0 {
		n = DefaultFastPathCheckInputs
	}
	inputs := fastCheckInputs(rev, n)
	declined, err := rev.differ(ctx, inputs)
	rep.Inputs, rep.Declined, rep.Duration = len(inputs), declined, time.Since(start)
	if err != nil {
		return rep, err
	}
	rep.Enabled = true
	rev.fast, rev.fastReport = rev.plan, rep
	return rep, nil
}

// FastPath reports the revision's differential check; nil before one ran.
func (rev *Revision) FastPath() *FastPathReport { return rev.fastReport }

// FastFallbacks counts the live decisions the fast path declined.
func (rev *Revision) FastFallbacks() uint64 { return rev.fastFallbacks.Load() }

// differ decides every input both ways, on every core, and returns the first difference.
func (rev *Revision) differ(ctx context.Context, inputs []ast.Value) (int, error) {
	var (
		next     atomic.Int64
		declined atomic.Int64
		mu       sync.Mutex
		first    error
		wg       sync.WaitGroup
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(inputs) || ctx.Err() != nil {
					return
				}
				dec, err := rev.compareOn(ctx, inputs[i])
				if dec {
					declined.Add(1)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(len(inputs)))
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = fmt.Errorf("differential check of the decision fast path: %w", ctx.Err())
	}
	return int(declined.Load()), first
}

// compareOn decides one input both ways. The fast path declining (an error) is no
// difference: live, that input takes the full evaluation too. The fast path answering
// where the full evaluation fails, or answering otherwise, is.
func (rev *Revision) compareOn(ctx context.Context, input ast.Value) (declined bool, err error) {
	fast, ferr := rev.plan.eval(ctx, ast.NewTerm(input), rev.dataTerm)
	if ferr != nil {
		return true, nil
	}
	full, err := rev.evalValue(ctx, input)
	switch {
	case err != nil:
		return false, fmt.Errorf("%w (revision %s) on input %s: the fast path decides %s, the full evaluation fails: %v",
			ErrFastPathDiffers, rev.ID, clip(input.String()), clip(fast.String()), err)
	case fast.Compare(full) != 0:
		return false, fmt.Errorf("%w (revision %s) on input %s: the fast path decides %s, the full evaluation %s",
			ErrFastPathDiffers, rev.ID, clip(input.String()), clip(fast.String()), clip(full.String()))
	}
	return false, nil
}

func clip(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "…"
	}
	return s
}

// seedOf derives the check's random choices from the revision, so that a revision is
// always checked on the same inputs and a failure can be reproduced.
func seedOf(id string) (uint64, uint64) {
	h := fnv.New64a()
	h.Write([]byte(id))
	a := h.Sum64()
	h.Write([]byte("second"))
	return a, h.Sum64()
}
