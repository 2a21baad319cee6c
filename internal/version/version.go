// Package version says which keygate is running, from the build
// information the Go toolchain writes into every binary: the module
// version (a tag, or a pseudo-version made from the commit), the commit,
// whether the tree had uncommitted changes, and the Go version. Nothing
// has to be passed with -ldflags: `go build` and `go install` in a git
// checkout or from the module proxy stamp it.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// Info describes one build.
type Info struct {
	// Version is the main module's version: a tag such as v1.2.0, a
	// pseudo-version naming the commit, or "dev" when the toolchain
	// recorded none (go run, go test).
	Version string
	// Revision is the commit the binary was built from (vcs.revision),
	// empty when it was not built from a version-control checkout.
	Revision string
	// Time is the commit's time (vcs.time), RFC 3339; empty when unknown.
	Time string
	// Modified reports uncommitted changes in the checkout (vcs.modified).
	Modified bool
	// GoVersion is the toolchain that built the binary.
	GoVersion string
}

// Get returns the running binary's Info, read once.
var Get = sync.OnceValue(func() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "dev", GoVersion: runtime.Version()}
	}
	return fromBuildInfo(bi)
})

func fromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if info.Version == "" || info.Version == "(devel)" {
		info.Version = "dev"
	}
	if info.GoVersion == "" {
		info.GoVersion = runtime.Version()
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the one line `keygate version` prints, for example
// "v1.2.0 (commit 0123456789ab, 2026-12-04T14:00:00Z) go1.26.8" or, for
// a tree with uncommitted changes, "... (commit 0123456789ab, modified, ...)".
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Version)
	if i.Revision != "" {
		b.WriteString(" (commit ")
		b.WriteString(i.Revision[:min(len(i.Revision), 12)])
		if i.Modified {
			b.WriteString(", modified")
		}
		if i.Time != "" {
			b.WriteString(", ")
			b.WriteString(i.Time)
		}
		b.WriteString(")")
	}
	b.WriteString(" ")
	b.WriteString(i.GoVersion)
	return b.String()
}
