package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version and revision may be set at build time with -ldflags "-X main.version=v1.2.3
// -X main.revision=…", for builds without the module's VCS data (a container build
// whose context leaves .git out); otherwise the binary's build info says.
var version, revision string

// buildVersion describes this binary from runtime/debug.ReadBuildInfo: the module
// version ("(devel)" for a go build in a checkout, the tag for go install …@vX), the
// VCS revision, its time and whether the tree had uncommitted changes, and the Go
// toolchain. Values given at link time win over the build info's.
func buildVersion(linkVersion, linkRevision string) string {
	v := versionInfo{version: "(unknown)", revision: "(unknown)", goVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.module, v.version, v.goVersion = bi.Main.Path, bi.Main.Version, bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.revision = s.Value
			case "vcs.time":
				v.time = s.Value
			case "vcs.modified":
				v.modified = s.Value
			}
		}
	}
	if linkVersion != "" {
		v.version = linkVersion
	}
	if linkRevision != "" {
		v.revision = linkRevision
	}
	return v.String()
}

type versionInfo struct {
	module, version, revision, time, modified, goVersion string
}

func (v versionInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "govgate %s\n", v.version)
	if v.module != "" {
		fmt.Fprintf(&b, "module:   %s\n", v.module)
	}
	fmt.Fprintf(&b, "revision: %s\n", v.revision)
	if v.time != "" {
		fmt.Fprintf(&b, "time:     %s\n", v.time)
	}
	if v.modified != "" {
		fmt.Fprintf(&b, "dirty:    %s\n", v.modified)
	}
	fmt.Fprintf(&b, "go:       %s %s/%s\n", v.goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
