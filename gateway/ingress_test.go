package gateway

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/echo"
	"github.com/keygate/keygate/internal/testkit"
)

// The real ingresses in front of keygate's check endpoint: Debian's nginx
// (nginx-light, auth_request) and Debian's Caddy (forward_auth), each
// started by the test in front of a real upstream. scripts/test.sh
// installs both; without a binary the test skips, except under CI=true,
// where it fails.

// ingressBinary finds name, or skips (fails under CI).
func ingressBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/" + name, "/usr/bin/" + name, name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no %s binary: the forward-auth tests need one under CI (apt-get install -y %s)", name, pkg)
	}
	t.Skipf("no %s binary: install it (apt-get install -y %s) to run the forward-auth tests", name, pkg)
	return ""
}

// freeAddr is a loopback address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// runIngress starts cmd and stops it when the test ends; its output is
// shown if the test fails.
func runIngress(t *testing.T, cmd *exec.Cmd, addr string) {
	t.Helper()
	var out testkit.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), out.String())
		}
	})
	waitListening(t, addr)
}

// ingressCases runs the cases through an ingress at base: no
// credential 401, a read-only credential's GET passes with the identity
// header at the upstream (and without the credential), its DELETE and
// another API set 403, an unknown path 404, a rate-limited credential
// 429 with Retry-After, and with Redis stopped 503 with Retry-After.
func ingressCases(t *testing.T, f *fwdFixture, base string) {
	bearer := "Bearer " + f.read
	t.Run("no credential", func(t *testing.T) {
		code, h, body := do(t, "GET", base+"/orders/1", "")
		if code != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%d %v %s, want 401 with a Bearer challenge", code, h, body)
		}
	})
	t.Run("read-only GET reaches the upstream with the identity", func(t *testing.T) {
		code, _, body := do(t, "GET", base+"/orders/1", bearer)
		if code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		var got echo.Request
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("upstream answer %q: %v", body, err)
		}
		if got.Headers["X-Keygate-User"] != "reader" || got.Path != "/orders/1" {
			t.Errorf("upstream saw %+v, want path /orders/1 and X-Keygate-User reader", got)
		}
		if strings.Contains(body, f.read) {
			t.Errorf("the credential reached the upstream: %s", body)
		}
	})
	t.Run("a client's own X-Keygate-User is replaced", func(t *testing.T) {
		code, _, body := ask(t, http.DefaultClient, base+"/orders/1", "Authorization", bearer, "X-Keygate-User", "admin")
		var got echo.Request
		if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || got.Headers["X-Keygate-User"] != "reader" {
			t.Errorf("%d %s, want the upstream to see X-Keygate-User reader only", code, body)
		}
	})
	for _, c := range []struct{ name, method, path string }{
		{"read-only DELETE", "DELETE", "/orders/1"},
		{"another API set", "GET", "/billing/1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if code, _, body := do(t, c.method, base+c.path, bearer); code != 403 {
				t.Errorf("%d %s, want 403", code, body)
			}
		})
	}
	t.Run("unknown path", func(t *testing.T) {
		if code, _, body := do(t, "GET", base+"/nowhere", bearer); code != 404 {
			t.Errorf("%d %s, want 404", code, body)
		}
	})
	t.Run("rate limited", func(t *testing.T) {
		if code, _, body := do(t, "GET", base+"/limited/1", bearer); code != 200 {
			t.Fatalf("first: %d %s", code, body)
		}
		code, h, body := do(t, "GET", base+"/limited/1", bearer)
		if code != 429 || h.Get("Retry-After") == "" {
			t.Errorf("second: %d %v %s, want 429 with Retry-After", code, h, body)
		}
	})
	t.Run("store down", func(t *testing.T) {
		f.redis.Stop()
		code, h, body := do(t, "GET", base+"/orders/1", "Bearer "+f.fresh)
		if code != 503 || h.Get("Retry-After") == "" {
			t.Errorf("%d %v %s, want 503 with Retry-After", code, h, body)
		}
	})
}

// testIngress runs ingressCases through the ingress binary name (Debian
// package pkg) in front of a keygate fixture and an echo upstream.
// command writes the ingress's config to dir (its folder) for the listen
// address addr, keygate's address and the upstream's URL, and returns the
// command that runs the ingress with it.
func testIngress(t *testing.T, name, pkg string, command func(bin, dir, addr, keygate, upstream string) *exec.Cmd) {
	t.Helper()
	bin := ingressBinary(t, name, pkg)
	f := newFwdFixture(t)
	up := echoUpstream(t)
	addr := freeAddr(t)
	runIngress(t, command(bin, t.TempDir(), addr, f.g.Addr().String(), up.URL), addr)
	ingressCases(t, f, "http://"+addr)
}

// writeIngressConfig writes an ingress's config to dir/name: its path.
func writeIngressConfig(t *testing.T, dir, name, conf string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestForwardAuthNginx: Debian's nginx with auth_request in front of an
// upstream, configured as docs/forward-auth.md says, error_page lines
// included (nginx passes only 401 and 403 of the check through and makes
// anything else a 500).
func TestForwardAuthNginx(t *testing.T) {
	testIngress(t, "nginx", "nginx-light", func(bin, dir, addr, keygate, upstream string) *exec.Cmd {
		conf := writeIngressConfig(t, dir, "nginx.conf", nginxConf(t, dir, addr, keygate, strings.TrimPrefix(upstream, "http://")))
		return exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf)
	})
}

// nginxConf is docs/forward-auth.md's nginx example as a whole file, so
// that the test runs the configuration the page shows: its server block
// inside an http block with the temporary paths under dir, listening on
// addr, with keygate (host:port) as upstream keygate and upstream
// (host:port) as the proxied application.
func nginxConf(t *testing.T, dir, addr, keygate, upstream string) string {
	t.Helper()
	example := forwardAuthExample(t, "## nginx (`auth_request`)",
		"server keygate:8080;", "server "+keygate+";",
		"listen 80;", "listen "+addr+";",
		"proxy_pass http://app:8080;", "proxy_pass http://"+upstream+";")
	return fmt.Sprintf(`
daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;

%[2]s}
`, dir, example)
}

// TestForwardAuthCaddy: Debian's Caddy with forward_auth in front of an
// upstream, configured as docs/forward-auth.md says. Caddy passes every
// refusal of the check through as it is.
func TestForwardAuthCaddy(t *testing.T) {
	testIngress(t, "caddy", "caddy", func(bin, dir, addr, keygate, upstream string) *exec.Cmd {
		conf := writeIngressConfig(t, dir, "Caddyfile", caddyfile(t, addr, keygate, upstream))
		cmd := exec.Command(bin, "run", "--adapter", "caddyfile", "--config", conf)
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
		return cmd
	})
}

// caddyfile is docs/forward-auth.md's Caddy example as a whole
// Caddyfile (admin endpoint and automatic HTTPS off): listening on addr,
// with keygate (host:port) as the check and upstream (a URL) as the
// proxied application.
func caddyfile(t *testing.T, addr, keygate, upstream string) string {
	t.Helper()
	return "{\n\tadmin off\n\tauto_https off\n}\n\n" + forwardAuthExample(t, "## Caddy (`forward_auth`)",
		"api.example.com {", "http://"+addr+" {",
		"forward_auth keygate:8080 {", "forward_auth "+keygate+" {",
		"reverse_proxy app:8080 {", "reverse_proxy "+upstream+" {")
}

// forwardAuthExample is the first text block under heading in
// docs/forward-auth.md, with each of the old, new pairs of oldnew
// replaced; each old must be there exactly once.
func forwardAuthExample(t *testing.T, heading string, oldnew ...string) string {
	t.Helper()
	doc, err := os.ReadFile("../docs/forward-auth.md")
	if err != nil {
		t.Fatal(err)
	}
	_, example, _ := strings.Cut(string(doc), heading+"\n")
	_, example, _ = strings.Cut(example, "```text\n")
	example, _, found := strings.Cut(example, "```")
	if !found {
		t.Fatalf("docs/forward-auth.md: no text block under %s", heading)
	}
	for i := 0; i+1 < len(oldnew); i += 2 {
		if n := strings.Count(example, oldnew[i]); n != 1 {
			t.Fatalf("docs/forward-auth.md's example under %s has %q %d times, want once", heading, oldnew[i], n)
		}
		example = strings.Replace(example, oldnew[i], oldnew[i+1], 1)
	}
	return example
}
