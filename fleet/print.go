package fleet

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Print writes the report for an operator: one block per gateway, then the divergences.
func Print(w io.Writer, r *Report) {
	for _, g := range r.Gateways {
		fmt.Fprintf(w, "%s  %s\n", g.Name, g.Admin)
		if !g.Reachable {
			fmt.Fprintf(w, "  unreachable: %v\n\n", g.Errors)
			continue
		}
		if p := g.Policy; p != nil {
			fmt.Fprintf(w, "  policy     revision %s, live since %s\n", p.Revision, p.LoadedAt.Format(time.RFC3339))
			if b := p.Bundle; b != nil {
				fmt.Fprintf(w, "             bundle %q from %s, ETag %s\n", b.Revision, b.URL, b.ETag)
				if s := b.Signer; s != nil {
					fmt.Fprintf(w, "             signed by %s (serial %s, department %s) at %s\n", s.Subject, s.Serial, orDash(s.Department), s.SignedAt.Format(time.RFC3339))
				}
			} else {
				fmt.Fprintf(w, "             source %s (no bundle)\n", p.Source)
			}
		}
		for _, c := range g.Certs {
			fmt.Fprintf(w, "  cert       %-10s serial %s, %s, expires %s (%d days)\n", c.Role, c.Serial, c.Subject, c.NotAfter.Format("2006-01-02"), c.DaysLeft)
		}
		if a := g.Audit; a != nil {
			size := "?"
			if a.LogSize != nil {
				size = fmt.Sprint(*a.LogSize)
			}
			switch {
			case a.Missing:
				fmt.Fprintf(w, "  audit      %s records; no checkpoint signed yet\n", size)
			default:
				at := "?"
				if a.CheckpointAt != nil {
					at = a.CheckpointAt.Format(time.RFC3339)
				}
				fmt.Fprintf(w, "  audit      %s records; checkpoint of %d at %s, key %s (%s)\n", size, a.CheckpointSize, at, a.KeyName, a.KeyID)
			}
		}
		if k := g.Keys; k != nil {
			for _, key := range k.Keys {
				fmt.Fprintf(w, "  key        %-20s latest v%d (%s), in use %s  [%s]\n", key.Name, key.Latest, key.Created.Format(time.RFC3339), inUse(key.InUse), k.Store)
			}
		}
		if g.Ready != nil {
			line := orDefault(g.SharedState, "none (replay claims and quotas in memory)")
			if sc := g.Shared; sc != nil && sc.Enabled() {
				line += " (" + sharedIdentity(sc) + ")"
			}
			fmt.Fprintf(w, "  shared     %s\n", line)
		}
		if rd := g.Ready; rd != nil {
			fmt.Fprintf(w, "  ready      %v%s\n", rd.Ready, warnings(rd.Warnings))
		}
		for _, ep := range sortedKeys(g.Errors) {
			fmt.Fprintf(w, "  (%s: %s)\n", ep, g.Errors[ep])
		}
		fmt.Fprintln(w)
	}
	if r.OK {
		fmt.Fprintf(w, "fleet agrees: %d gateways, policy revision %s\n", len(r.Gateways), strings.Join(sortedKeys(r.Revisions), ", "))
		return
	}
	fmt.Fprintf(w, "%d divergences:\n", len(r.Divergences))
	for _, d := range r.Divergences {
		gw := d.Gateway
		if gw == "" {
			gw = "fleet"
		}
		fmt.Fprintf(w, "  %-16s %-10s %s\n", d.Kind, gw, d.Message)
	}
}

func warnings(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+": "+m[k])
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func inUse(v int) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("v%d", v)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
