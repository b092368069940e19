package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// legacyLongFlags keeps command lines written for Go's flag package working: flag took a
// long flag with one dash (-ca DIR, -json, -valid=90d) and pflag reads that as a cluster
// of one-letter shorthands. Before parsing, an argument -name or -name=v becomes --name
// or --name=v when name (longer than one letter) is a long flag of the command the line
// runs and not a cluster of its boolean shorthands (call's -fs stays -f -s); a flag's
// value (-d -x, --header -H) and everything after "--" are left as they are.
func legacyLongFlags(root *cobra.Command, args []string) []string {
	c, _, err := root.Find(args)
	if err != nil {
		return args
	}
	c.InitDefaultHelpFlag() // -help, as flag took it
	fs := c.Flags()
	out := make([]string, 0, len(args))
	valueNext := false
	for i, a := range args {
		switch {
		case valueNext:
			valueNext = false
		case a == "--":
			return append(out, args[i:]...)
		case strings.HasPrefix(a, "--"):
			name, _, hasValue := strings.Cut(a[2:], "=")
			valueNext = !hasValue && takesValue(fs.Lookup(name))
		case len(a) > 2 && a[0] == '-':
			name, _, hasValue := strings.Cut(a[1:], "=")
			if f := fs.Lookup(name); f != nil && len(name) > 1 && !boolShorthands(fs, name) {
				a = "-" + a
				valueNext = !hasValue && takesValue(f)
			} else {
				valueNext = clusterTakesNext(fs, a[1:])
			}
		case len(a) == 2 && a[0] == '-':
			valueNext = takesValue(fs.ShorthandLookup(a[1:]))
		}
		out = append(out, a)
	}
	return out
}

// takesValue reports whether f reads the next argument as its value.
func takesValue(f *pflag.Flag) bool { return f != nil && f.NoOptDefVal == "" }

// clusterTakesNext reports whether pflag reads the argument after the shorthand cluster
// s (-sd) as a value: its letters are booleans up to one that takes a value, and nothing
// follows that letter in s (-sdx gives -d the value "x").
func clusterTakesNext(fs *pflag.FlagSet, s string) bool {
	for i, r := range s {
		if r > 127 { // ShorthandLookup takes one byte
			return false
		}
		f := fs.ShorthandLookup(string(r))
		if f == nil {
			return false
		}
		if takesValue(f) {
			return i == len(s)-1
		}
	}
	return false
}

// boolShorthands reports whether every letter of s is a boolean shorthand of fs.
func boolShorthands(fs *pflag.FlagSet, s string) bool {
	for _, r := range s {
		if r > 127 {
			return false
		}
		f := fs.ShorthandLookup(string(r))
		if f == nil || f.NoOptDefVal == "" {
			return false
		}
	}
	return true
}
