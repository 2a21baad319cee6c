package deploy

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks the text of the Dockerfile (no Docker engine runs
// here): a static build with go.mod's Go version into distroless nonroot.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string // instructions, comments dropped, continuations joined
	cur := ""
	for _, l := range strings.Split(string(raw), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "#") || (l == "" && cur == "") {
			continue
		}
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cur += s + " "
			continue
		}
		lines = append(lines, cur+l)
		cur = ""
	}
	var froms []string
	for _, l := range lines {
		if f, ok := strings.CutPrefix(l, "FROM "); ok {
			froms = append(froms, strings.Fields(f)[0])
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got FROM %v", froms)
	}

	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("no go directive in ../go.mod")
	}
	if want := "golang:" + string(m[1]); !strings.HasPrefix(froms[0], want) {
		t.Errorf("build stage FROM %s, want %s (go.mod's go version)", froms[0], want)
	}
	if last := froms[len(froms)-1]; last != "gcr.io/distroless/static-debian12:nonroot" && !strings.HasPrefix(last, "gcr.io/distroless/static-debian12:nonroot@") {
		t.Errorf("final stage FROM %s, want gcr.io/distroless/static-debian12:nonroot", last)
	}

	text := strings.Join(lines, "\n")
	for _, want := range []string{
		"CGO_ENABLED=0",
		"-trimpath",
		`-ldflags "-s -w"`,
		"./cmd/keygate",
		"USER 65532:65532",
		"EXPOSE 8080 9090",
		`ENTRYPOINT ["/keygate","serve","-config","/etc/keygate/gateway.yaml"]`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	// Nothing after the last FROM may run a shell (distroless has none) or
	// switch back to root.
	final := text[strings.LastIndex(text, "\nFROM "):]
	for _, l := range strings.Split(final, "\n") {
		if strings.HasPrefix(l, "RUN ") {
			t.Errorf("final stage runs %q: distroless has no shell", l)
		}
		if u, ok := strings.CutPrefix(l, "USER "); ok && (u == "root" || u == "0" || strings.HasPrefix(u, "0:")) {
			t.Errorf("final stage switches to root: %s", l)
		}
	}
}
