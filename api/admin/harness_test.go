package admin_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/keygate/keygate/api/admin"
	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/gateway"
	"github.com/keygate/keygate/internal/echo"
	"github.com/keygate/keygate/internal/redistest"
)

// adminToken is the bootstrap admin token of the tests (48 bytes).
const adminToken = "bootstrap-admin-token-for-the-tests-0123456789AB"

// env is a running keygate (gateway.Gateway on loopback ports) with one
// proxied route, orders (API set orders), in front of an echo upstream,
// and the admin API on its own listener (httptest) over the same
// credential service. Everything either logs goes to logs.
type env struct {
	base  string // the public listener: http://127.0.0.1:port
	admin string // the admin API: http://127.0.0.1:port
	g     *gateway.Gateway
	svc   *authz.Service
	logs  *observer.ObservedLogs
}

// backends are the stores every main flow runs against: the embedded
// bbolt store in a temporary directory and a real redis-server.
var backends = []string{"embedded", "redis"}

// forEachBackend runs f once per store, each with its own keygate.
func forEachBackend(t *testing.T, f func(t *testing.T, e *env)) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel() // each has its own keygate and store
			f(t, newEnv(t, b, adminToken))
		})
	}
}

func storeYAML(t *testing.T, backend string) string {
	switch backend {
	case "embedded":
		return fmt.Sprintf("store: {driver: embedded, embedded: {path: %q}}", filepath.Join(t.TempDir(), "keygate.db"))
	case "redis":
		return fmt.Sprintf("store: {driver: redis, redis: {addrs: [%q], key_prefix: %q, dial_timeout: 1s}}", redistest.Addr(t), redistest.Prefix(t))
	}
	t.Fatalf("unknown backend %q", backend)
	return ""
}

// newEnv starts a keygate on backend with the admin API's bootstrap
// token token ("" for none).
func newEnv(t *testing.T, backend, token string) *env {
	t.Helper()
	return startEnv(t, storeYAML(t, backend), token)
}

func startEnv(t *testing.T, storeYAML, token string) *env {
	t.Helper()
	up := httptest.NewServer(echo.Handler{})
	t.Cleanup(up.Close)
	y := fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
log: {access_log: false}
%s
auth:
  digest_keys: [{id: t1, secret: "a-test-digest-key-of-at-least-32-bytes"}]
  lockout_threshold: 3
self_service: {max_password_failures_per_user: 5}
routes:
  - {name: orders, path_prefix: /orders, upstream: %s, api_set: orders, rate_limit: {rate: 1000, burst: 1000}}
`, storeYAML, up.URL)
	cfg, err := config.Parse("test.yaml", []byte(y), nil)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	log := zap.New(core)
	g, err := gateway.New(context.Background(), cfg, gateway.Options{Logger: log})
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	if err := g.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	admin := httptest.NewServer(newHandler(t, g.Auth(), cfg, admin.Options{Logger: log, Token: token}))
	t.Cleanup(admin.Close)
	return &env{base: "http://" + g.Addr().String(), admin: admin.URL, g: g, svc: g.Auth(), logs: logs}
}

// newHandler builds the admin API, failing the test if it cannot.
func newHandler(t *testing.T, svc *authz.Service, cfg *config.Config, opts admin.Options) *admin.Handler {
	t.Helper()
	h, err := admin.New(svc, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// user creates a user directly in the credential service.
func (e *env) user(t *testing.T, name string, sets []string, authorities ...string) {
	t.Helper()
	if _, err := e.svc.CreateUser(t.Context(), authz.User{Name: name, APISets: sets, Scopes: []string{"read", "write"}, Authorities: authorities}); err != nil {
		t.Fatal(err)
	}
}

// key makes a named key for owner and returns "Bearer <token>".
func (e *env) key(t *testing.T, owner, handle string, scopes ...string) string {
	t.Helper()
	tok, _, err := e.svc.CreateKey(t.Context(), owner, authz.KeySpec{Handle: handle, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// adminKey makes a named key for the admin API (as `keygate keys create
// --admin` does) and returns its Authorization value.
func (e *env) adminKey(t *testing.T, owner, handle string, scopes ...string) string {
	t.Helper()
	tok, _, err := e.svc.CreateKey(t.Context(), owner, authz.KeySpec{Handle: handle, Scopes: scopes, Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

func bearer(token string) string { return "Bearer " + token }

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// response is what a call got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// do sends a request to url. ctype and body may be empty.
func do(t *testing.T, method, url, authorization, ctype, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// call sends a request to the admin API, with a JSON body if body is not
// empty; a POST, PUT or PATCH says Content-Type application/json even
// without one, as every state-changing request must.
func (e *env) call(t *testing.T, method, path, authorization, body string) response {
	t.Helper()
	ctype := ""
	if body != "" || method == "POST" || method == "PUT" || method == "PATCH" {
		ctype = "application/json"
	}
	return do(t, method, e.admin+path, authorization, ctype, body)
}

// proxied sends GET /orders/1 through keygate's public listener and
// returns the status.
func (e *env) proxied(t *testing.T, authorization string) int {
	t.Helper()
	return do(t, "GET", e.base+"/orders/1", authorization, "", "").status
}

// waitProxied polls the proxied route until it answers want, for at most
// a second (the invalidation bound).
func (e *env) waitProxied(t *testing.T, what, authorization string, want int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		got := e.proxied(t, authorization)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the proxied route still answers %d after 1s, want %d", what, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// want fails the test unless the response has the status.
func want(t *testing.T, what string, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: got %s, want status %d", what, r, status)
	}
}

// wantError fails the test unless the response is a JSON error with the
// status and code; it returns the description.
func wantError(t *testing.T, what string, r response, status int, code string) string {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: got %s, want %d %s", what, r, status, code)
		return ""
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Error != code {
		t.Errorf("%s: body %s, want error %q", what, r.body, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	return body.Description
}

// audit returns the admin API's audit lines with action, failing the
// test unless there are n of them.
func (e *env) audit(t *testing.T, action string, n int) []observer.LoggedEntry {
	t.Helper()
	lines := e.logs.FilterLoggerName("adminapi").FilterField(zap.String("audit", action)).All()
	if len(lines) != n {
		t.Fatalf("%d audit lines %q, want %d; the admin API logged:\n%s", len(lines), action, n, dump(e.logs.FilterLoggerName("adminapi").All()))
	}
	return lines
}

// wantFields fails the test unless the log line has these string fields.
func wantFields(t *testing.T, l observer.LoggedEntry, fields map[string]string) {
	t.Helper()
	m := l.ContextMap()
	for k, v := range fields {
		if got, _ := m[k].(string); got != v {
			t.Errorf("audit line %q: %s = %q, want %q (%v)", l.Message, k, got, v, m)
		}
	}
}

// noSecrets fails the test if any log line, of any component, holds one
// of the secrets.
func (e *env) noSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	for _, l := range e.logs.All() {
		line := l.Message + " " + fmt.Sprint(l.ContextMap())
		for _, s := range secrets {
			if s = strings.TrimPrefix(strings.TrimPrefix(s, "Bearer "), "ApiKey "); s != "" && strings.Contains(line, s) {
				t.Errorf("a log line holds a secret: %s", line)
			}
		}
	}
}

func dump(lines []observer.LoggedEntry) string {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "  %s %v\n", l.Message, l.ContextMap())
	}
	return b.String()
}
