package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// validity is a certificate's or CRL's lifetime on the command line. Administrators count
// such lifetimes in days, so it takes days ("3650d"), Go durations ("12h") or both
// ("1d12h"), and prints in days.
type validity time.Duration

const day = 24 * time.Hour

// validityFlag defines a validity flag with a default.
func validityFlag(fs *pflag.FlagSet, name string, def time.Duration, usage string) *time.Duration {
	d := def
	fs.Var((*validity)(&d), name, usage+" in `DAYS` and hours: 3650d, 90d, 1d12h")
	return &d
}

// parseValidity reads "3650d", "1d12h", "36h". Weeks, months and years are refused rather
// than guessed (is a month 30 days?), as is anything not positive.
func parseValidity(s string) (time.Duration, error) {
	days, rest := int64(0), s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n < 0 || n > 100*366 {
			return 0, fmt.Errorf("validity %q: want a number of days before 'd', like 3650d", s)
		}
		days, rest = n, s[i+1:]
	}
	var d time.Duration
	if rest != "" {
		if rest[0] == '-' || rest[0] == '+' {
			return 0, fmt.Errorf("validity %q: want days and hours like 3650d, 90d or 1d12h", s)
		}
		var err error
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, fmt.Errorf("validity %q: want days and hours like 3650d, 90d or 1d12h", s)
		}
	}
	total := time.Duration(days)*day + d
	if total <= 0 {
		return 0, errors.New("validity " + strconv.Quote(s) + ": must be positive")
	}
	return total, nil
}

// formatValidity prints d in days, with the remainder as a Go duration: 3650d, 1d12h0m0s.
func formatValidity(d time.Duration) string {
	days, rest := d/day, d%day
	switch {
	case days == 0:
		return rest.String()
	case rest == 0:
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%s", days, rest)
}

func (v *validity) Set(s string) error {
	d, err := parseValidity(s)
	if err != nil {
		return err
	}
	*v = validity(d)
	return nil
}

func (v *validity) String() string {
	if v == nil {
		return ""
	}
	return formatValidity(time.Duration(*v))
}

// Type names the value in pflag's help: "--valid DAYS" comes from the usage's backquotes.
func (v *validity) Type() string { return "validity" }
