package deploy

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keygate/keygate/config"
)

// TestDockerfile checks the text of the Dockerfile, including the parts
// TestImage cannot run here (the golang build stage and the distroless base
// need a registry): a static build with go.mod's Go version into distroless
// nonroot by default.
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
	args := map[string]string{} // ARG defaults
	var froms []string
	for _, l := range lines {
		if a, ok := strings.CutPrefix(l, "ARG "); ok {
			k, v, _ := strings.Cut(a, "=")
			args[k] = v
		}
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
	if froms[0] != "${GO_IMAGE}" {
		t.Errorf("build stage FROM %s, want ${GO_IMAGE}", froms[0])
	}
	if want := "golang:" + string(m[1]); !strings.HasPrefix(args["GO_IMAGE"], want) {
		t.Errorf("ARG GO_IMAGE=%s, want %s (go.mod's go version)", args["GO_IMAGE"], want)
	}
	if last := froms[len(froms)-1]; last != "${BASE}" {
		t.Errorf("final stage FROM %s, want ${BASE}", last)
	}
	if b := args["BASE"]; b != "gcr.io/distroless/static-debian12:nonroot" && !strings.HasPrefix(b, "gcr.io/distroless/static-debian12:nonroot@") {
		t.Errorf("ARG BASE=%s, want gcr.io/distroless/static-debian12:nonroot by default", b)
	}

	text := strings.Join(lines, "\n")
	for _, want := range []string{
		"CGO_ENABLED=0",
		"-trimpath",
		`-ldflags "-s -w"`,
		"./cmd/keygate",
		"USER 65532:65532",
		"EXPOSE 8080 9091",
		"ENV KEYGATE_CONFIG=/etc/keygate/gateway.yaml",
		"COPY deploy/image/gateway.yaml /etc/keygate/gateway.yaml",
		`ENTRYPOINT ["/keygate"]`,
		`CMD ["serve"]`,
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

// TestImageConfig: the gateway.yaml baked into the image passes keygate's
// validation with KEYGATE_UPSTREAM set (and names it when unset), serves
// the public and health listeners on 0.0.0.0 (a container's loopback is its
// own) and the admin API on loopback, and keeps the embedded store
// in /var/lib/keygate, the image's one writable folder.
func TestImageConfig(t *testing.T) {
	raw, err := os.ReadFile("image/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("image/gateway.yaml", raw, func(name string) (string, bool) {
		return "http://orders:8080", name == "KEYGATE_UPSTREAM"
	})
	if err != nil {
		t.Fatalf("image/gateway.yaml: %v", err)
	}
	for what, addr := range map[string]string{"listen": cfg.Listen, "health_listen": cfg.HealthListen} {
		if h, _, _ := net.SplitHostPort(addr); h != "0.0.0.0" {
			t.Errorf("%s %q: want 0.0.0.0 inside a container", what, addr)
		}
	}
	if !isLoopback(cfg.AdminListen) {
		t.Errorf("admin_listen %q: the admin API stays on the container's loopback", cfg.AdminListen)
	}
	if portOf(t, "health_listen", cfg.HealthListen) != 9091 {
		t.Errorf("health_listen %q: want port 9091, the one the Dockerfile exposes", cfg.HealthListen)
	}
	if cfg.Store.Driver != config.DriverEmbedded || filepath.Dir(cfg.Store.Embedded.Path) != "/var/lib/keygate" {
		t.Errorf("store %s at %q, want embedded under /var/lib/keygate", cfg.Store.Driver, cfg.Store.Embedded.Path)
	}
	if _, err := config.Parse("image/gateway.yaml", raw, func(string) (string, bool) { return "", false }); err == nil || !strings.Contains(err.Error(), "KEYGATE_UPSTREAM") {
		t.Errorf("without KEYGATE_UPSTREAM: %v; want an error naming it", err)
	}
}
