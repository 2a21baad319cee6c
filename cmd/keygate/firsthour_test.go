package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestListJSON reads `users list -o json` and `keys list -o json` as JSON
// arrays with the admin API's field names, and never a secret or digest.
func TestListJSON(t *testing.T) {
	_, path := servedConfig(t, "http://127.0.0.1:1", ordersRoute, "")
	mustKeygate(t, "users", "add", "alice", "--api-sets", "orders", "-config", path)
	mustKeygate(t, "users", "add", "root", "--admin", "-config", path)
	token := strings.TrimSpace(mustKeygate(t, "keys", "create", "alice", "--handle", "ci", "-config", path))

	var users []map[string]any
	out := mustKeygate(t, "users", "list", "-o", "json", "-config", path)
	if err := json.Unmarshal([]byte(out), &users); err != nil {
		t.Fatalf("users list -o json: %v:\n%s", err, out)
	}
	if len(users) != 2 {
		t.Fatalf("users list -o json: %d users, want 2:\n%s", len(users), out)
	}
	for _, u := range users {
		for _, field := range []string{"name", "authorities", "apiSets", "scopes", "disabled", "created"} {
			if _, ok := u[field]; !ok {
				t.Errorf("user %v: no field %q", u["name"], field)
			}
		}
		for _, field := range []string{"sessionEpoch", "password", "passwordDigest"} {
			if _, ok := u[field]; ok {
				t.Errorf("user %v: field %q must not be shown", u["name"], field)
			}
		}
	}
	if got := users[0]["name"].(string) + " " + users[1]["name"].(string); got != "alice root" {
		t.Errorf("users: %s, want alice root", got)
	}

	var creds []map[string]any
	out = mustKeygate(t, "keys", "list", "alice", "-o", "json", "-config", path)
	if err := json.Unmarshal([]byte(out), &creds); err != nil {
		t.Fatalf("keys list -o json: %v:\n%s", err, out)
	}
	if len(creds) != 1 || creds[0]["handle"] != "ci" || creds[0]["kind"] != "key_token" || creds[0]["status"] != "active" ||
		!strings.HasPrefix(creds[0]["id"].(string), "cred_") {
		t.Errorf("keys list -o json: want key ci, active:\n%s", out)
	}
	if strings.Contains(out, token) || strings.Contains(strings.ToLower(out), "digest") || strings.Contains(strings.ToLower(out), "sealed") {
		t.Errorf("keys list -o json shows a secret or a digest:\n%s", out)
	}
	if out := mustKeygate(t, "keys", "list", "root", "-o", "json", "-config", path); strings.TrimSpace(out) != "[]" {
		t.Errorf("keys list of a user without credentials: %q, want []", out)
	}

	// The text output stays the default, and -o text names it.
	for _, args := range [][]string{{"users", "list"}, {"users", "list", "-o", "text"}} {
		if out := mustKeygate(t, append(args, "-config", path)...); !strings.HasPrefix(out, "NAME  ") {
			t.Errorf("%s: want the table:\n%s", strings.Join(args, " "), out)
		}
	}

	// An unknown format is a usage error naming the flag.
	for _, args := range [][]string{{"users", "list", "-o", "yaml"}, {"keys", "list", "alice", "-o", "yaml"}} {
		_, stderr, code := keygate(t, append(args, "-config", path)...)
		if code != exitConfig || !strings.Contains(stderr, `invalid value "yaml" for flag -o: must be text or json`) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 naming -o", strings.Join(args, " "), code, stderr)
		}
	}
}

// TestConfigEnv: KEYGATE_CONFIG names the config file when -config is not
// given, for check, serve and the credential commands; -config wins.
func TestConfigEnv(t *testing.T) {
	dir, path := servedConfig(t, "http://127.0.0.1:1", ordersRoute, "")
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "listen: [\n")
	t.Chdir(t.TempDir()) // no gateway.yaml here

	for _, tc := range []struct {
		name, env string
		args      []string
		code      int
		out       string // on stdout or stderr
	}{
		{"check from the env", path, []string{"check"}, exitOK, path + ": OK"},
		{"-config wins", bad, []string{"check", "-config", path}, exitOK, path + ": OK"},
		{"env names a bad file", bad, []string{"check"}, exitConfig, "bad.yaml"},
		{"no env, no file", "", []string{"check"}, exitConfig, "gateway.yaml"},
		{"users add from the env", path, []string{"users", "add", "alice"}, exitOK, "user alice created"},
		{"users list from the env", path, []string{"users", "list"}, exitOK, "alice"},
		{"keys list from the env", path, []string{"keys", "list", "alice"}, exitOK, "ID  "},
		{"serve from the env", bad, []string{"serve"}, exitConfig, "bad.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvConfig, tc.env)
			stdout, stderr, code := keygate(t, tc.args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.out) {
				t.Errorf("KEYGATE_CONFIG=%s keygate %s: exit %d, stdout %q, stderr %q; want exit %d and %q",
					tc.env, strings.Join(tc.args, " "), code, stdout, stderr, tc.code, tc.out)
			}
		})
	}
}

// TestCheckMissingFiles: `keygate check` opens the files the config names
// and reports each missing one with its field path, exit 2; `serve` stops
// with the same report before it creates the store file.
func TestCheckMissingFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	cert, key, ca := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.pem")
	writeFile(t, path, serveConfig(dir, "http://127.0.0.1:1", ordersRoute)+fmt.Sprintf(`
tls: {mode: files, cert_file: %q, key_file: %q}
upstream: {tls: {ca_file: %q}}
`, cert, key, ca))
	want := []string{
		`tls.cert_file: cannot read "` + cert + `": no such file or directory`,
		`tls.key_file: cannot read "` + key + `": no such file or directory`,
		`upstream.tls.ca_file: cannot read "` + ca + `": no such file or directory`,
	}
	for _, cmd := range []string{"check", "serve"} {
		t.Run(cmd, func(t *testing.T) {
			stdout, stderr, code := keygate(t, cmd, "-config", path)
			if got := strings.Split(strings.TrimSpace(stderr), "\n"); code != exitConfig || stdout != "" || !slices.Equal(got, want) {
				t.Errorf("keygate %s: exit %d, stdout %q, stderr:\n%s\nwant exit 2 and:\n%s", cmd, code, stdout, stderr, strings.Join(want, "\n"))
			}
			if _, err := os.Stat(filepath.Join(dir, "keygate.db")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("keygate %s created the store file before the config was valid (stat: %v)", cmd, err)
			}
		})
	}
}

// TestGeneratedKeyWarningCLI: without auth.digest_keys, a credential
// command warns in one short line, not the server's paragraph; with a
// digest key it says nothing.
func TestGeneratedKeyWarningCLI(t *testing.T) {
	dir, path := servedConfig(t, "http://127.0.0.1:1", ordersRoute, "")
	withKey := filepath.Join(dir, "with-key.yaml")
	writeFile(t, withKey, strings.Replace(serveConfig(dir, "http://127.0.0.1:1", ordersRoute), "keygate.db", "other.db", 1)+
		"auth: {digest_keys: [{id: k1, secret: \"${KEYGATE_DIGEST_KEY}\"}]}\n")
	t.Setenv("KEYGATE_DIGEST_KEY", "c2VjcmV0IGRpZ2VzdCBrZXkgZm9yIHRoZSB0ZXN0IG9ubHkgMTIzNDU2Nzg5MA")

	for _, tc := range []struct {
		name, path, stderr string
	}{
		{"no digest key", path, "WARN\t" + generatedKeyWarning + "\n"},
		{"a digest key", withKey, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, args := range [][]string{{"users", "add", "alice"}, {"users", "list"}, {"keys", "list", "alice"}} {
				_, stderr, code := keygate(t, append(args, "-config", tc.path)...)
				if code != exitOK || stderr != tc.stderr {
					t.Errorf("keygate %s: exit %d, stderr %q; want exit 0 and %q", strings.Join(args, " "), code, stderr, tc.stderr)
				}
			}
		})
	}
}

// TestDemoUpstreamOnly runs `keygate demo -upstream-only`, the upstream the
// README's example starts for gateway.yaml: it echoes a request and stops
// cleanly on SIGTERM.
func TestDemoUpstreamOnly(t *testing.T) {
	cmd := exec.Command(binary, "demo", "-upstream-only", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no line from keygate demo -upstream-only: %v", err)
	}
	m := regexp.MustCompile(`echoes requests on (http://127\.0\.0\.1:\d+);`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("keygate demo -upstream-only printed %q; want the upstream's URL", line)
	}
	if code, body := get(t, m[1]+"/api/orders/1", ""); code != 200 || !strings.Contains(body, `"path": "/api/orders/1"`) {
		t.Errorf("GET the sample upstream: %d %s; want 200 echoing the path", code, body)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("keygate demo -upstream-only after SIGTERM: %v, want exit 0", err)
	}
}

// TestServeNoStoreFileOnBadConfig: `serve` with a config that is not fully
// valid exits 2 before it creates the embedded store's file. (A syntax or
// validation problem and a weak admin token already stopped it first; a
// missing file named by the config did not, before CheckFiles.)
func TestServeNoStoreFileOnBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name, extra, token, stderr string
	}{
		{"validation problem", "upstream: {dial_timeout: -1s}\n", "", "upstream.dial_timeout"},
		{"weak admin token", "", "changeme", "KEYGATE_ADMIN_TOKEN"},
		{"missing CA file", "upstream: {tls: {ca_file: /nonexistent/ca.pem}}\n", "", "upstream.tls.ca_file: cannot read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, path := servedConfig(t, "http://127.0.0.1:1", ordersRoute, tc.extra)
			t.Setenv("KEYGATE_ADMIN_TOKEN", tc.token)
			_, stderr, code := keygate(t, "serve", "-config", path)
			if code != exitConfig || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("keygate serve: exit %d, stderr %q; want exit 2 and %q", code, stderr, tc.stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "keygate.db")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("keygate serve created the store file before the config was valid (stat: %v)", err)
			}
		})
	}
}

// TestListenErrorBeforeStore: `serve` binds every listener before it opens
// the store, so a port that is taken stops it with exit 1 and one line
// naming the config field (as gateway.Bind's *ListenError does), and the
// embedded store's file is not created.
func TestListenErrorBeforeStore(t *testing.T) {
	for _, field := range []string{"listen", "admin_listen", "health_listen"} {
		t.Run(field, func(t *testing.T) {
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			dir := t.TempDir()
			path := filepath.Join(dir, "gateway.yaml")
			y := strings.Replace(serveConfig(dir, "http://127.0.0.1:1", ordersRoute), "\n"+field+": 127.0.0.1:0", "\n"+field+": "+taken.Addr().String(), 1)
			writeFile(t, path, y)
			_, stderr, code := keygate(t, "serve", "-config", path)
			want := "keygate: " + field + ": listen tcp " + taken.Addr().String() + ": bind: address already in use\n"
			if code != exitError || stderr != want {
				t.Errorf("keygate serve with %s's port taken: exit %d, stderr %q; want exit 1 and %q", field, code, stderr, want)
			}
			if _, err := os.Stat(filepath.Join(dir, "keygate.db")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("keygate serve created the store file although %s could not be bound (stat: %v)", field, err)
			}
		})
	}
}
