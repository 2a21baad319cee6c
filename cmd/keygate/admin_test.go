package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/echo"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testkit"
)

// keygate runs the binary with args and returns what it printed and its
// exit code.
func keygate(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCmd(t, exec.Command(binary, args...))
}

// runCmd runs cmd and returns what it printed and its exit code.
func runCmd(t *testing.T, cmd *exec.Cmd) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// mustKeygate runs the binary with args, fails the test unless it exits 0
// and returns its stdout.
func mustKeygate(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := keygate(t, args...)
	if code != exitOK {
		t.Fatalf("keygate %s: exit %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

// get sends GET url with an Authorization header unless authorization is
// empty, and returns the status and body.
func get(t *testing.T, url, authorization string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitStatus polls GET url until it answers want, for at most within.
func waitStatus(t *testing.T, url, authorization string, want int, within time.Duration) {
	t.Helper()
	testkit.Eventually(t, within, fmt.Sprintf("GET %s answering %d", url, want), func() bool {
		got, _ := get(t, url, authorization)
		return got == want
	})
}

// credentialID returns the id of the row of `keygate keys list` output
// whose handle is handle.
func credentialID(t *testing.T, list, handle string) string {
	t.Helper()
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[2] == handle {
			return f[0]
		}
	}
	t.Fatalf("no key %q in keys list:\n%s", handle, list)
	return ""
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

const ordersRoute = "  - {name: orders, path_prefix: /api/orders, upstream: UP, api_set: orders}\n"

// TestAdminEmbedded manages credentials in the embedded store with the
// CLI, uses them through a real `keygate serve`, and checks that the CLI
// refuses, with a message saying why, while the server holds the file.
func TestAdminEmbedded(t *testing.T) {
	up := httptest.NewServer(echo.Handler{})
	defer up.Close()
	dir, path := servedConfig(t, up.URL, ordersRoute, "")

	out := mustKeygate(t, "users", "add", "alice", "--api-sets", "orders,billing", "--scopes", "read,write", "-config", path)
	if want := "user alice created (api sets: orders, billing; scopes: read, write)\n"; out != want {
		t.Errorf("users add printed %q, want %q", out, want)
	}
	mustKeygate(t, "users", "add", "-config", path, "--admin", "root")
	if _, stderr, code := keygate(t, "keys", "create", "root", "--handle", "ops", "--admin", "-config", path); code != exitOK || !strings.Contains(stderr, `admin key "ops" of root created`) {
		t.Errorf("keys create --admin: exit %d, stderr %s", code, stderr)
	}
	out = mustKeygate(t, "users", "list", "-config", path)
	if !strings.Contains(out, "alice  -") || !regexpMatch(`(?m)^root\s+ADMIN\s+-\s+read,write\s+no$`, out) {
		t.Errorf("users list:\n%s", out)
	}

	stdout, stderr, code := keygate(t, "keys", "create", "alice", "--handle", "ci", "--api-sets", "orders", "-config", path)
	token := strings.TrimSuffix(stdout, "\n")
	if code != exitOK || !strings.HasPrefix(token, "kgl_") || strings.ContainsAny(token, " \n") {
		t.Fatalf("keys create: exit %d, stdout %q (want the token alone), stderr %s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "shown only once") || strings.Contains(stderr, token) {
		t.Errorf("keys create stderr %q: want the shown-once note and not the token", stderr)
	}
	list := mustKeygate(t, "keys", "list", "alice", "-config", path)
	if !regexpMatch(`(?m)^cred_\S+\s+key_token\s+ci\s+active\s+orders\s+read,write\s+\S+\s+never$`, list) || strings.Contains(list, token) {
		t.Errorf("keys list: want one active key ci, never the token:\n%s", list)
	}

	p := startServe(t, path)
	url := "http://" + p.addr + "/api/orders/1"
	if got, body := get(t, url, "Bearer "+token); got != 200 || !strings.Contains(body, `"X-Keygate-User": "alice"`) {
		t.Errorf("with the CLI's token: %d %s, want 200 with X-Keygate-User alice", got, body)
	}
	if got, _ := get(t, url, ""); got != 401 {
		t.Errorf("without a credential: %d, want 401", got)
	}

	_, stderr, code = keygate(t, "users", "list", "-config", path)
	if code != exitError || !strings.Contains(stderr, "keygate users list: the embedded store "+filepath.Join(dir, "keygate.db")+" is in use by a running keygate; stop it first") {
		t.Errorf("users list while serving: exit %d, stderr %q; want exit 1 saying the store is in use", code, stderr)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("keygate serve did not exit after SIGTERM")
	}
	if out := mustKeygate(t, "keys", "delete", "alice", "ci", "-config", path); out != "key \"ci\" of alice deleted\n" {
		t.Errorf("keys delete printed %q", out)
	}
	if list := mustKeygate(t, "keys", "list", "alice", "-config", path); !regexpMatch(`\sci\s+revoked\s`, list) {
		t.Errorf("keys list after delete: want ci revoked:\n%s", list)
	}
}

// redisOrdersConfig writes a config with the orders route to an echoing
// upstream on a private Redis, and returns its path.
func redisOrdersConfig(t *testing.T) string {
	t.Helper()
	up := httptest.NewServer(echo.Handler{})
	t.Cleanup(up.Close)
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	writeFile(t, path, fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
store: {driver: redis, redis: {addrs: [%q], key_prefix: %q}}
routes:
%s`, redistest.Addr(t), redistest.Prefix(t), strings.ReplaceAll(ordersRoute, "UP", up.URL)))
	return path
}

// TestAdminRedisWhileServing changes credentials with the CLI while a
// server runs on the same Redis: new ones work at once, revoked ones stop
// within a second (the CLI's invalidation reaches the server by pub/sub).
func TestAdminRedisWhileServing(t *testing.T) {
	path := redisOrdersConfig(t)
	p := startServe(t, path)
	url := "http://" + p.addr + "/api/orders/1"
	mustKeygate(t, "users", "add", "bob", "--api-sets", "orders", "-config", path)

	pair := strings.TrimSuffix(mustKeygate(t, "apikey", "token", "bob", "-config", path), "\n")
	if !regexpMatch(`^ApiKey kgk_\w+:kgt_\w+$`, pair) {
		t.Fatalf("apikey token printed %q, want \"ApiKey key:token\"", pair)
	}
	if got, body := get(t, url, pair); got != 200 || !strings.Contains(body, `"X-Keygate-Credential-Kind": "apikey"`) {
		t.Errorf("with the CLI's ApiKey pair: %d %s, want 200", got, body)
	}

	token := strings.TrimSuffix(mustKeygate(t, "keys", "create", "bob", "--handle", "ci", "-config", path), "\n")
	if got, _ := get(t, url, "Bearer "+token); got != 200 {
		t.Fatalf("with the CLI's key token: %d, want 200", got)
	}
	id := credentialID(t, mustKeygate(t, "keys", "list", "bob", "-config", path), "ci")
	if out := mustKeygate(t, "keys", "revoke", id, "-config", path); out != "credential "+id+" revoked\n" {
		t.Errorf("keys revoke printed %q", out)
	}
	waitStatus(t, url, "Bearer "+token, 401, time.Second)
	if got, _ := get(t, url, pair); got != 200 {
		t.Errorf("ApiKey pair after revoking another key: %d, want 200", got)
	}
}

// TestAdminAPIKeyRotate: keygate apikey rotate replaces the key and the
// token of a running gateway's user; the old pair stops working, the new
// one works, and someone who knew the old key cannot void the new token.
func TestAdminAPIKeyRotate(t *testing.T) {
	path := redisOrdersConfig(t)
	p := startServe(t, path)
	url := "http://" + p.addr + "/api/orders/1"
	mustKeygate(t, "users", "add", "bob", "--api-sets", "orders", "-config", path)
	if stdout, stderr, code := keygate(t, "apikey", "rotate", "bob", "-config", path); code != exitError || stdout != "" || !strings.Contains(stderr, "no ApiKey key yet") {
		t.Errorf("apikey rotate before any token: exit %d, stdout %q, stderr %q; want exit %d and \"no ApiKey key yet\"", code, stdout, stderr, exitError)
	}

	old := strings.TrimSuffix(mustKeygate(t, "apikey", "token", "bob", "-config", path), "\n")
	waitStatus(t, url, old, 200, time.Second)
	stdout, stderr, code := keygate(t, "apikey", "rotate", "bob", "-config", path)
	if code != exitOK || !strings.Contains(stderr, "the old pair no longer works") {
		t.Fatalf("apikey rotate: exit %d, stderr %q", code, stderr)
	}
	pair := strings.TrimSuffix(stdout, "\n")
	if !regexpMatch(`^ApiKey kgk_\w+:kgt_\w+$`, pair) {
		t.Fatalf("apikey rotate printed %q, want \"ApiKey key:token\"", pair)
	}
	oldKey, _, _ := strings.Cut(strings.TrimPrefix(old, "ApiKey "), ":")
	newKey, newToken, _ := strings.Cut(strings.TrimPrefix(pair, "ApiKey "), ":")
	if oldKey == newKey {
		t.Fatalf("apikey rotate kept the key %q", oldKey)
	}
	waitStatus(t, url, old, 401, time.Second)
	for range 3 {
		get(t, url, "ApiKey "+oldKey+":"+newToken)
	}
	if got, body := get(t, url, pair); got != 200 {
		t.Errorf("rotated pair after three tries with the old key: %d %s, want 200", got, body)
	}
}

// TestAdminUsage: bad usage exits 2 with the command's usage and touches
// no store.
func TestAdminUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"users"}, "keygate users add NAME"},
		{[]string{"users", "frob"}, `keygate users: unknown command "frob"`},
		{[]string{"users", "add"}, "keygate users add: missing NAME\nUsage: keygate users add NAME"},
		{[]string{"users", "add", "a", "b"}, `keygate users add: unexpected argument "b"`},
		{[]string{"users", "list", "--frob"}, "flag provided but not defined: -frob"},
		{[]string{"keys", "create", "alice", "--expires", "soon"}, `invalid value "soon" for flag -expires`},
		{[]string{"keys", "delete", "alice"}, "keygate keys delete: missing HANDLE"},
		{[]string{"keys", "revoke"}, "keygate keys revoke: missing CREDENTIAL_ID"},
		{[]string{"apikey", "token", "-config"}, "flag needs an argument: -config"},
		{[]string{"apikey", "unvoid", "a", "--", "b"}, `keygate apikey unvoid: unexpected argument "b"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		if code != exitConfig || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("keygate %s: exit %d, stderr:\n%s\nwant exit %d and %q", strings.Join(tc.args, " "), code, stderr.String(), exitConfig, tc.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"help"}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "keygate apikey token USER") {
		t.Errorf("keygate help: exit %d, want the operator commands in:\n%s", code, stdout.String())
	}
}

// TestAdminInvalidInput: the service's complaints are printed as they are
// (they name the field), with exit 1.
func TestAdminInvalidInput(t *testing.T) {
	_, path := servedConfig(t, "http://127.0.0.1:1", ordersRoute, "")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"users", "add", "carol", "--api-sets", "orders", "--scopes", "read", "-config", path}, &stdout, &stderr); code != exitOK {
		t.Fatalf("users add carol: exit %d: %s", code, stderr.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"users", "add", "no spaces"}, "keygate users add: invalid input: name: "},
		{[]string{"users", "add", "dave", "--scopes", "READ"}, "keygate users add: invalid input: scopes[0]: "},
		{[]string{"users", "add", "carol"}, `keygate users add: user already exists: "carol"`},
		{[]string{"keys", "create", "carol"}, "keygate keys create: invalid input: handle: required"},
		{[]string{"keys", "create", "carol", "--handle", "k", "--scopes", "write"}, `keygate keys create: invalid input: scopes: "write" is not granted to the owner`},
		{[]string{"keys", "create", "nobody", "--handle", "k"}, `keygate keys create: user not found: "nobody"`},
		{[]string{"keys", "create", "carol", "--handle", "k", "--expires", "-1h"}, "keygate keys create: invalid input: --expires: must be a positive duration"},
		{[]string{"keys", "create", "carol", "--handle", "k", "--expires", "876001h"}, "keygate keys create: invalid input: --expires: must be a positive duration"},
		{[]string{"keys", "create", "carol", "--handle", "k", "--admin"}, `keygate keys create: invalid input: admin: "carol" does not hold the ADMIN authority`},
		{[]string{"keys", "revoke", "cred_nope"}, `keygate keys revoke: credential not found: "cred_nope"`},
		{[]string{"users", "disable", "nobody"}, `keygate users disable: user not found: "nobody"`},
	} {
		stdout.Reset()
		stderr.Reset()
		code := run(append(tc.args, "-config", path), &stdout, &stderr)
		if code != exitError || !strings.Contains(stderr.String(), tc.want) || stdout.Len() != 0 {
			t.Errorf("keygate %s: exit %d, stdout %q, stderr:\n%s\nwant exit %d, nothing on stdout and %q", strings.Join(tc.args, " "), code, stdout.String(), stderr.String(), exitError, tc.want)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		wantPos   []string
		wantSets  string
		wantAdmin bool
	}{
		{[]string{"alice", "--api-sets", "a,b", "--admin"}, []string{"alice"}, "a,b", true},
		{[]string{"--admin", "alice", "-api-sets=a"}, []string{"alice"}, "a", true},
		{[]string{"a", "-api-sets", "x", "b"}, []string{"a", "b"}, "x", false},
		{[]string{"--", "-a", "--admin"}, []string{"-a", "--admin"}, "", false},
		{[]string{"a", "--", "--admin"}, []string{"a", "--admin"}, "", false},
		{nil, nil, "", false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		var sets listFlag
		fs.Var(&sets, "api-sets", "")
		isAdmin := fs.Bool("admin", false, "")
		pos, err := parseInterspersed(fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.wantPos) || sets.String() != tc.wantSets || *isAdmin != tc.wantAdmin {
			t.Errorf("parseInterspersed(%q) = %q, api-sets %q, admin %v, err %v; want %q, %q, %v",
				tc.args, pos, sets.String(), *isAdmin, err, tc.wantPos, tc.wantSets, tc.wantAdmin)
		}
	}
}

// TestAdminAuditFile: a change made with the CLI writes its audit line to
// audit.file, and the secret it prints is not in it.
func TestAdminAuditFile(t *testing.T) {
	dir := t.TempDir()
	path, file := filepath.Join(dir, "gateway.yaml"), filepath.Join(dir, "audit.log")
	writeFile(t, path, fmt.Sprintf("store: {embedded: {path: %q}}\naudit: {file: %q}\nroutes:\n%s",
		filepath.Join(dir, "k.db"), file, strings.ReplaceAll(ordersRoute, "UP", "http://127.0.0.1:1")))
	mustKeygate(t, "users", "add", "bob", "--api-sets", "orders", "-config", path)
	pair := strings.TrimSuffix(mustKeygate(t, "apikey", "token", "bob", "-config", path), "\n")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"audit":"new_apikey_token"`) || !strings.Contains(string(data), `"user":"bob"`) {
		t.Errorf("audit file after apikey token:\n%s\nwant the token's audit line", data)
	}
	_, tok, _ := strings.Cut(strings.TrimPrefix(pair, "ApiKey "), ":")
	if tok == "" || strings.Contains(string(data), tok) {
		t.Errorf("the audit file holds the token (or none was printed: %q)", pair)
	}
}
