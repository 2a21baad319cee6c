package version

import (
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want Info
		line string
	}{
		{
			name: "go run",
			bi:   debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			want: Info{Version: "dev", GoVersion: "go1.26.8"},
			line: "dev go1.26.8",
		},
		{
			name: "tagged release",
			bi: debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
				{Key: "vcs.time", Value: "2026-12-04T14:00:00Z"},
				{Key: "vcs.modified", Value: "false"},
			}},
			want: Info{Version: "v1.2.0", Revision: "0123456789abcdef0123456789abcdef01234567", Time: "2026-12-04T14:00:00Z", GoVersion: "go1.26.8"},
			line: "v1.2.0 (commit 0123456789ab, 2026-12-04T14:00:00Z) go1.26.8",
		},
		{
			name: "checkout with changes",
			bi: debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261204140000-0123456789ab+dirty"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
				{Key: "vcs.modified", Value: "true"},
			}},
			want: Info{Version: "v0.0.0-20261204140000-0123456789ab+dirty", Revision: "0123456789abcdef0123456789abcdef01234567", Modified: true, GoVersion: "go1.26.8"},
			line: "v0.0.0-20261204140000-0123456789ab+dirty (commit 0123456789ab, modified) go1.26.8",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fromBuildInfo(&tc.bi)
			if got != tc.want {
				t.Errorf("fromBuildInfo = %+v, want %+v", got, tc.want)
			}
			if s := got.String(); s != tc.line {
				t.Errorf("String() = %q, want %q", s, tc.line)
			}
		})
	}
}

// TestBuiltFromCheckout builds keygate as a user would, with go build in
// the git checkout, and checks that `keygate version` names the commit
// that is checked out (and whether the tree has changes).
func TestBuiltFromCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"-C", root}, args...)...).Output()
		if err != nil {
			t.Skipf("not a git checkout (git %s: %v)", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	head := git("rev-parse", "HEAD")
	dirty := git("status", "--porcelain") != ""

	bin := filepath.Join(t.TempDir(), "keygate")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "./cmd/keygate")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("keygate version: %v", err)
	}
	line := strings.TrimSpace(string(out))
	if want := "(commit " + head[:12]; !strings.Contains(line, want) {
		t.Errorf("keygate version = %q, want it to contain %q", line, want)
	}
	if got := strings.Contains(line, ", modified"); got != dirty {
		t.Errorf("keygate version = %q: says modified %v, git status says %v", line, got, dirty)
	}
	if strings.HasPrefix(line, "keygate dev ") {
		t.Errorf("keygate version = %q: a build from a checkout has a module version, not dev", line)
	}
}
