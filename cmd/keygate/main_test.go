package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/testkit"
)

// binary is keygate built once for the tests that run it as a process and
// send it real signals.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keygate-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "keygate")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building keygate: %v\n%s", err, out)
		os.Exit(1)
	}
	// A race-enabled binary sleeps a second before exiting, for the
	// detector's goroutines; the tests run it dozens of times.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// servedConfig writes serveConfig's config with routes on upstream, and
// extra after it, to gateway.yaml in a new temporary folder: the folder
// and the file.
func servedConfig(t *testing.T, upstream, routes, extra string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "gateway.yaml")
	writeFile(t, path, serveConfig(dir, upstream, routes)+extra)
	return dir, path
}

func TestCheck(t *testing.T) {
	// The config package's test of Parse reads the same file.
	bad := filepath.Join("..", "..", "config", "testdata", "three-mistakes.yaml")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check", "-config", bad}, &stdout, &stderr); code != exitConfig {
		t.Errorf("check on a bad file exited %d, want %d", code, exitConfig)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	want := []string{
		"store.redis.addrs: required when store.driver is redis",
		"routes[0].upstream: scheme must be http, https or unix",
		"routes[1].auth:",
	}
	if len(lines) != len(want) {
		t.Fatalf("check printed %d problems, want %d:\n%s", len(lines), len(want), stderr.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d = %q, want it to start with %q", i, lines[i], w)
		}
	}

	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"check", "-config", "../../gateway.yaml"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("check gateway.yaml exited %d: %s", code, stderr.String())
	}
	if got := stdout.String(); !strings.Contains(got, "OK: 2 routes, store embedded") || strings.Count(got, "\n") != 1 {
		t.Errorf("check summary = %q, want one line with the route count and store", got)
	}
}

func TestUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"frobnicate"}, &stdout, &stderr); code != exitConfig || !strings.Contains(stderr.String(), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, stderr %q", code, stderr.String())
	}
	stdout.Reset()
	if code := run([]string{"version"}, &stdout, &stderr); code != exitOK || !strings.HasPrefix(stdout.String(), "keygate ") {
		t.Errorf("version: exit %d, stdout %q", code, stdout.String())
	}
}

// process is keygate serve running as a child process.
type process struct {
	cmd                         *exec.Cmd
	addr, adminAddr, healthAddr string
	mu                          sync.Mutex
	logs                        []map[string]any
	exited                      chan error
}

// startServe runs `keygate serve -config path` and waits for its
// "keygate serving" log line, which names the bound addresses.
func startServe(t *testing.T, path string) *process {
	t.Helper()
	return startServeBinary(t, binary, path)
}

// startServeBinary is startServe with the keygate binary bin.
func startServeBinary(t *testing.T, bin, path string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, "serve", "-config", path), exited: make(chan error, 1)}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var entry map[string]any
			if json.Unmarshal(sc.Bytes(), &entry) != nil {
				t.Logf("keygate (not JSON): %s", sc.Text())
				continue
			}
			p.mu.Lock()
			p.logs = append(p.logs, entry)
			p.mu.Unlock()
			if entry["msg"] == "keygate serving" {
				p.addr, p.adminAddr, p.healthAddr = entry["listen"].(string), entry["admin_listen"].(string), entry["health_listen"].(string)
				close(ready)
			}
		}
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	select {
	case <-ready:
	case err := <-p.exited:
		t.Fatalf("keygate exited before serving: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("keygate did not start within 20s")
	}
	return p
}

// termOnArrival waits (10s at most) until the upstream tells, on
// arrived, that what (a request) reached it, then sends keygate SIGTERM.
func (p *process) termOnArrival(t *testing.T, arrived <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never reached the upstream", what)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// wantExitZero waits (15s at most) for keygate to exit after SIGTERM and
// fails unless it exited 0; why says what the exit followed.
func (p *process) wantExitZero(t *testing.T, why string) {
	t.Helper()
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("keygate exited with %v after SIGTERM%s, want exit 0", err, why)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("keygate did not exit after SIGTERM")
	}
}

// waitLog waits for a log line with msg and returns it.
func (p *process) waitLog(t *testing.T, msg string) map[string]any {
	t.Helper()
	var line map[string]any
	testkit.Eventually(t, 10*time.Second, fmt.Sprintf("a log line %q", msg), func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range p.logs {
			if e["msg"] == msg {
				line = e
				return true
			}
		}
		return false
	})
	return line
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func serveConfig(dir, upstream, routes string) string {
	return fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
server: {shutdown_timeout: 10s}
store: {driver: embedded, embedded: {path: %q}}
routes:
%s`, filepath.Join(dir, "keygate.db"), strings.ReplaceAll(routes, "UP", upstream))
}

// TestServeDrainsOnSIGTERM holds a slow request open across SIGTERM: it
// must complete, and the process must then exit cleanly.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	arrived := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		time.Sleep(time.Second)
		io.WriteString(w, "slow answer")
	}))
	defer up.Close()
	_, path := servedConfig(t, up.URL, "  - {name: slow, path_prefix: /, upstream: UP, auth: none}\n", "")
	p := startServe(t, path)

	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + p.addr + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{status: resp.StatusCode, body: string(b)}
	}()
	p.termOnArrival(t, arrived, "the slow request")
	r := <-res
	if r.err != nil || r.status != 200 || r.body != "slow answer" {
		t.Errorf("in-flight request across SIGTERM: status %d body %q err %v; want 200 \"slow answer\"", r.status, r.body, r.err)
	}
	p.wantExitZero(t, "")
	if _, err := http.Get("http://" + p.addr + "/slow"); err == nil {
		t.Error("keygate still accepts requests after exiting")
	}
}

// TestServeReloadsOnSIGHUP: a valid file is swapped in; an invalid one is
// logged with its field paths and the running config stays.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	dir, path := servedConfig(t, up.URL, "  - {name: a, path_prefix: /a, upstream: UP, auth: none}\n", "")
	p := startServe(t, path)
	base := "http://" + p.addr

	if got := status(t, base+"/b"); got != 404 {
		t.Fatalf("/b before reload: %d, want 404", got)
	}
	writeFile(t, path, serveConfig(dir, up.URL, "  - {name: a, path_prefix: /a, upstream: UP, auth: none}\n  - {name: b, path_prefix: /b, upstream: UP, auth: none}\n"))
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(t, "config reloaded")
	if got := status(t, base+"/b"); got != 200 {
		t.Errorf("/b after reload: %d, want 200", got)
	}

	writeFile(t, path, serveConfig(dir, up.URL, "  - {name: a, path_prefix: /a, upstream: ftp://x, auth: none}\n  - {name: b, path_prefx: /b, upstream: UP, auth: none}\n"))
	p.cmd.Process.Signal(syscall.SIGHUP)
	e := p.waitLog(t, "config reload refused; keeping the running config")
	problems := fmt.Sprint(e["problems"])
	for _, want := range []string{"routes[0].upstream: scheme must be http, https or unix", "routes[1].path_prefx: unknown field"} {
		if !strings.Contains(problems, want) {
			t.Errorf("reload refusal log %q does not contain %q", problems, want)
		}
	}
	if got := status(t, base+"/a"); got != 200 {
		t.Errorf("/a after a refused reload: %d, want 200 (old config kept)", got)
	}
	if got := status(t, base+"/b"); got != 200 {
		t.Errorf("/b after a refused reload: %d, want 200 (old config kept)", got)
	}
	if got := status(t, "http://"+p.healthAddr+"/readyz"); got != 200 {
		t.Errorf("/readyz: %d, want 200", got)
	}
}

func TestServeBadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	writeFile(t, path, "listen: nope\nroutes: []\n")
	out, err := exec.Command(binary, "serve", "-config", path).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig {
		t.Fatalf("serve with a bad config: %v, want exit %d", err, exitConfig)
	}
	for _, want := range []string{`listen: "nope" is not host:port`, "routes: at least one route is required"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output %q does not contain %q", out, want)
		}
	}
}

// TestDemo runs the quickstart's first command and checks its three
// requests: the public one goes through to the sample upstream, the private
// one is refused without a credential and goes through with the demo key's
// token, which the upstream sees as user demo.
func TestDemo(t *testing.T) {
	out, err := exec.Command(binary, "demo", "-once", "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0").Output()
	if err != nil {
		t.Fatalf("keygate demo: %v\n%s", err, out)
	}
	requests := strings.Split(string(out), "$ curl ")
	if len(requests) != 4 {
		t.Fatalf("demo output shows %d requests, want 3:\n%s", len(requests)-1, out)
	}
	for i, wants := range [][]string{
		{"-i 'http://127.0.0.1:", "/public/hello?name=world'", "HTTP/1.1 200 OK", `"path": "/public/hello"`, `"X-Forwarded-For": "127.0.0.1"`},
		{"-i 'http://127.0.0.1:", "/private/hello'", "HTTP/1.1 401 Unauthorized", `Www-Authenticate: Bearer realm="keygate"`},
		{"-i -H 'Authorization: Bearer kgl_", "HTTP/1.1 200 OK", `"X-Keygate-User": "demo"`, `"X-Keygate-Api-Sets": "demo"`, `"X-Keygate-Scopes": "read,write"`, `"X-Keygate-Credential-Kind": "key_token"`},
	} {
		for _, want := range wants {
			if !strings.Contains(requests[i+1], want) {
				t.Errorf("demo request %d does not contain %q:\n%s", i+1, want, requests[i+1])
			}
		}
	}
}
