package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/testkit"
)

// buildah runs buildah with its own storage under a temporary folder: the
// vfs driver (no overlay mounts needed) and chroot isolation, which work as
// root without a container runtime daemon. chroot isolation shares the
// host's network, so the image's listeners are the host's ports.
type buildah struct {
	t      *testing.T
	global []string
}

func newBuildah(t *testing.T) *buildah {
	t.Helper()
	needTool(t, "buildah", "buildah", "the image is not built or run")
	dir := t.TempDir()
	return &buildah{t: t, global: []string{"--storage-driver", "vfs", "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot")}}
}

func (b *buildah) cmd(args ...string) *exec.Cmd {
	return exec.Command("buildah", append(slices.Clone(b.global), args...)...)
}

// run runs buildah and returns its standard output; a failure ends the test.
func (b *buildah) run(args ...string) string {
	b.t.Helper()
	var stdout, stderr bytes.Buffer
	c := b.cmd(args...)
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		b.t.Fatalf("buildah %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// needTool skips the test when the command is missing, saying which Debian
// package brings it; under CI (CI=true), where scripts/test.sh installs it,
// it fails instead.
func needTool(t *testing.T, command, pkg, what string) {
	t.Helper()
	if _, err := exec.LookPath(command); err == nil {
		return
	}
	msg := fmt.Sprintf("%s is not installed (apt-get install %s; scripts/test.sh does): %s", command, pkg, what)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// imageConfig is the part of the OCI image config the test checks.
type imageConfig struct {
	User         string
	Env          []string
	Entrypoint   []string
	Cmd          []string
	WorkingDir   string
	ExposedPorts map[string]struct{}
}

// TestImage builds deploy/Dockerfile with buildah as docs/deploy.md says
// (no registry is reachable here: BASE=scratch, BINARY=prebuilt from a
// static binary built now) and runs it: `keygate version`, `keygate check`
// on the baked config, `keygate demo -once`, then the quickstart — the first
// user and key made by init steps on the store volume, `serve` as the image's
// entrypoint runs it, a request through keygate to an upstream with the key
// and one refused without it, the probes and metrics on the health port
// (9091, on every address), and the admin API on the bootstrap token on the
// container's loopback only (9090).
func TestImage(t *testing.T) {
	b := newBuildah(t)
	for _, port := range []string{"8080", "9090", "9091"} {
		l, err := net.Listen("tcp", "0.0.0.0:"+port)
		if err != nil {
			t.Fatalf("port %s is taken on this host: buildah run --isolation chroot shares the host's network and the image listens on 0.0.0.0:8080, 127.0.0.1:9090 and 0.0.0.0:9091: %v", port, err)
		}
		l.Close()
	}

	// The build context: the static binary, a CA bundle, the files the
	// image bakes in, at the paths the Dockerfile names.
	ctxDir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(ctxDir, "keygate"), "./cmd/keygate")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/keygate: %v\n%s", err, out)
	}
	copyFile(t, "/etc/ssl/certs/ca-certificates.crt", filepath.Join(ctxDir, "ca-certificates.crt"))
	for _, f := range []string{"gateway.yaml", "passwd", "group"} {
		copyFile(t, filepath.Join("image", f), filepath.Join(ctxDir, "deploy", "image", f))
	}
	b.run("bud", "--isolation", "chroot", "--quiet",
		"--build-arg", "BASE=scratch", "--build-arg", "BINARY=prebuilt",
		"--build-arg", "KEYGATE_BIN=keygate", "--build-arg", "CA_BUNDLE=ca-certificates.crt",
		"-f", "Dockerfile", "-t", "localhost/keygate:test", ctxDir)

	var inspect struct {
		OCIv1 struct{ Config imageConfig }
	}
	if err := json.Unmarshal([]byte(b.run("inspect", "--type", "image", "localhost/keygate:test")), &inspect); err != nil {
		t.Fatal(err)
	}
	cfg := inspect.OCIv1.Config
	if cfg.User != "65532:65532" {
		t.Errorf("image user %q, want 65532:65532", cfg.User)
	}
	if !slices.Contains(cfg.Env, "KEYGATE_CONFIG=/etc/keygate/gateway.yaml") {
		t.Errorf("image env %q lacks KEYGATE_CONFIG=/etc/keygate/gateway.yaml", cfg.Env)
	}
	if cfg.WorkingDir != "/var/lib/keygate" {
		t.Errorf("working dir %q, want /var/lib/keygate", cfg.WorkingDir)
	}
	for _, p := range []string{"8080/tcp", "9091/tcp"} {
		if _, ok := cfg.ExposedPorts[p]; !ok {
			t.Errorf("image does not expose %s", p)
		}
	}
	if _, ok := cfg.ExposedPorts["9090/tcp"]; ok {
		t.Error("image exposes 9090/tcp, the admin API's port, which stays on the container's loopback")
	}
	entry := append(slices.Clone(cfg.Entrypoint), cfg.Cmd...)
	if want := []string{"/keygate", "serve"}; !slices.Equal(entry, want) {
		t.Fatalf("entrypoint and cmd %q, want %q", entry, want)
	}

	ctr := strings.TrimSpace(b.run("from", "--name", "keygate-test", "localhost/keygate:test"))
	data := t.TempDir() // the store volume, owned by the image's user
	if err := os.Chown(data, 65532, 65532); err != nil {
		t.Fatal(err)
	}

	var seenUser atomic.Value // X-Keygate-User of the upstream's last request
	seenUser.Store("")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenUser.Store(r.Header.Get("X-Keygate-User"))
		fmt.Fprintf(w, "upstream %s", r.URL.Path)
	}))
	defer upstream.Close()
	adminToken := randomSecret(t)
	env := []string{"--env", "KEYGATE_UPSTREAM=" + upstream.URL, "--env", "KEYGATE_ADMIN_TOKEN=" + adminToken}
	runIn := func(args ...string) string {
		t.Helper()
		return b.run(slices.Concat([]string{"run", "--isolation", "chroot", "-v", data + ":/var/lib/keygate"}, env, []string{ctr, "--"}, args)...)
	}

	hostVersion, err := exec.Command(filepath.Join(ctxDir, "keygate"), "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := runIn("/keygate", "version"); got != string(hostVersion) || !strings.HasPrefix(got, "keygate ") {
		t.Errorf("keygate version in the image: %q, want the binary's %q", got, hostVersion)
	}
	if got := runIn("/keygate", "check"); !strings.Contains(got, "/etc/keygate/gateway.yaml: OK") {
		t.Errorf("keygate check on the baked config: %q", got)
	}
	if got := runIn("/keygate", "demo", "-once", "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-health", "127.0.0.1:0"); !strings.Contains(got, `"X-Keygate-User": "demo"`) {
		t.Errorf("keygate demo -once: the sample request did not reach the upstream authenticated:\n%s", got)
	}

	// The first user and key: init steps on the volume, before serve.
	runIn("/keygate", "users", "add", "alice", "--api-sets", "app")
	token := strings.TrimSpace(runIn("/keygate", "keys", "create", "alice", "--handle", "first"))
	if !strings.HasPrefix(token, "kgl_") {
		t.Fatalf("keys create printed %q, want a kgl_ token", token)
	}
	fi, err := os.Stat(filepath.Join(data, "keygate.db"))
	if err != nil {
		t.Fatalf("the store is not on the volume: %v", err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65532 || st.Gid != 65532 {
		t.Errorf("keygate.db owned by %d:%d, want the image's 65532:65532", st.Uid, st.Gid)
	}

	// serve, as the image's entrypoint runs it.
	var logs bytes.Buffer
	srv := b.cmd(slices.Concat([]string{"run", "--isolation", "chroot", "-v", data + ":/var/lib/keygate"}, env, []string{ctr, "--"}, entry)...)
	srv.Stdout, srv.Stderr = &logs, &logs
	srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	defer func() {
		syscall.Kill(-srv.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			syscall.Kill(-srv.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("keygate serve in the image:\n%s", logs.String())
		}
	}()
	testkit.Eventually(t, 30*time.Second, "/readyz on 9091 answering 200", func() bool {
		select {
		case err := <-done:
			done <- err // for the deferred stop
			t.Fatalf("keygate serve ended before it was ready: %v\n%s", err, logs.String())
		default:
		}
		code, _ := get(t, "http://127.0.0.1:9091/readyz", "")
		return code == http.StatusOK
	})

	if code, body := get(t, "http://127.0.0.1:8080/orders/1", "Bearer "+token); code != http.StatusOK || body != "upstream /orders/1" || seenUser.Load() != "alice" {
		t.Errorf("GET /orders/1 with alice's key: %d %q, upstream saw user %q; want 200 from the upstream for alice", code, body, seenUser.Load())
	}
	if code, _ := get(t, "http://127.0.0.1:8080/orders/1", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /orders/1 without a credential: %d, want 401", code)
	}
	// The admin API on the container's loopback: chroot isolation shares
	// the host's network namespace, so 127.0.0.1 here is the container's
	// own, as in a kubectl port-forward.
	if code, body := get(t, "http://127.0.0.1:9090/admin/users", "Bearer "+adminToken); code != http.StatusOK || !strings.Contains(body, `"alice"`) {
		t.Errorf("GET /admin/users with the bootstrap token: %d %s; want 200 listing alice", code, body)
	}
	if code, _ := get(t, "http://127.0.0.1:9090/admin/users", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /admin/users without a credential: %d, want 401", code)
	}
	if code, body := get(t, "http://127.0.0.1:9091/metrics", ""); code != http.StatusOK || !strings.Contains(body, "keygate_build_info") {
		t.Errorf("GET /metrics on the health port: %d, keygate_build_info missing", code)
	}
	if code, _ := get(t, "http://127.0.0.1:9091/admin/users", "Bearer "+adminToken); code != http.StatusNotFound {
		t.Errorf("GET /admin/users on the health port: %d, want 404 (the admin API is not there)", code)
	}
	// From another address of the host (as from another machine or pod):
	// the health port answers, the admin port is not bound there.
	if ip := externalIPv4(t); ip != "" {
		if code, _ := get(t, "http://"+ip+":9091/healthz", ""); code != http.StatusOK {
			t.Errorf("GET /healthz on %s:9091: %d, want 200 (health_listen on 0.0.0.0)", ip, code)
		}
		if code, body := get(t, "http://"+ip+":9090/admin/users", "Bearer "+adminToken); code != 0 {
			t.Errorf("GET /admin/users on %s:9090: %d %s; want no connection (admin_listen on loopback)", ip, code, body)
		}
	} else {
		t.Log("no non-loopback IPv4 address on this host: the admin port's loopback binding is not checked from outside")
	}
}

// externalIPv4 is a non-loopback IPv4 address of this host, "" without one.
func externalIPv4(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}

// get sends a GET with an optional Authorization header; a connection
// error is code 0.
func get(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}
