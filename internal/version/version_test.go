package version

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
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

// TestReleaseBuild builds keygate as a release is built, with
// scripts/release.sh in the git checkout for this machine's platform, and
// checks what the release promises: `keygate version` names the commit
// that is checked out (and whether the tree has changes), the binary is
// static and holds no path of this machine (-trimpath), SHA256SUMS matches
// the binary, and the CycloneDX SBOM lists the modules compiled in.
func TestReleaseBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(root, ".git")); err != nil || !fi.IsDir() {
		// The Go toolchain stamps version-control information only in a
		// checkout whose .git is a directory (not a git worktree's file).
		t.Skipf("%s is not a git clone: the toolchain records no commit there", root)
	}
	git := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"-C", root}, args...)...).Output()
		if err != nil {
			t.Fatalf("git %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	head := git("rev-parse", "HEAD")
	dirty := git("status", "--porcelain") != ""

	dist := t.TempDir()
	target := runtime.GOOS + "/" + runtime.GOARCH
	release := exec.Command("scripts/release.sh", dist)
	release.Dir = root
	release.Env = append(os.Environ(), "TARGETS="+target)
	if out, err := release.CombinedOutput(); err != nil {
		t.Fatalf("scripts/release.sh: %v\n%s", err, out)
	}
	name := "keygate_" + runtime.GOOS + "_" + runtime.GOARCH
	bin := filepath.Join(dist, name)

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

	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(root+"/")) {
		t.Errorf("%s holds the build machine's path %s: not built with -trimpath", name, root)
	}
	if runtime.GOOS == "linux" {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s has a program interpreter: not a static binary", name)
			}
		}
	}

	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if want := hex.EncodeToString(sum[:]) + "  " + name + "\n"; string(sums) != want {
		t.Errorf("SHA256SUMS = %q, want %q", sums, want)
	}

	var bom struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Component struct {
				Name string `json:"name"`
			} `json:"component"`
		} `json:"metadata"`
		Components []struct {
			Name string `json:"name"`
		} `json:"components"`
	}
	b, err := os.ReadFile(filepath.Join(dist, "keygate.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &bom); err != nil {
		t.Fatalf("keygate.cdx.json: %v", err)
	}
	if bom.BOMFormat != "CycloneDX" || bom.Metadata.Component.Name != "github.com/keygate/keygate" {
		t.Errorf("SBOM: format %q, component %q; want CycloneDX, github.com/keygate/keygate", bom.BOMFormat, bom.Metadata.Component.Name)
	}
	var names []string
	for _, c := range bom.Components {
		names = append(names, c.Name)
	}
	for _, want := range []string{"go.uber.org/zap", "github.com/redis/go-redis/v9", "go.etcd.io/bbolt"} {
		if !slices.Contains(names, want) {
			t.Errorf("SBOM components %v: %s missing", names, want)
		}
	}
}
