package main

import (
	"encoding/json"
	"io"

	"github.com/spf13/cobra"
)

// writeJSON writes one indented JSON document; HTML characters stay as they are, since
// no browser reads it.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// failureJSON is what a command asked for --json prints when it fails before it has an
// answer of its own (docs/architecture.md): {"ok": false, "error": "..."}.
type failureJSON struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

// wantsJSON reports whether cmd was given a boolean --json (call's --json is curl's
// request body, not an output format).
func wantsJSON(cmd *cobra.Command) bool {
	if cmd == nil {
		return false
	}
	f := cmd.Flags().Lookup("json")
	return f != nil && f.Value.Type() == "bool" && f.Value.String() == "true"
}
