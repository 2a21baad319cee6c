package admin_test

import (
	"fmt"
	"net/http/httptest"
	"os"
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
	"github.com/keygate/keygate/internal/httpkit/httpkittest"
	"github.com/keygate/keygate/internal/httpkit/httpkittest/gatewaytest"
	"github.com/keygate/keygate/internal/testkit"
)

// adminToken is the bootstrap admin token of the tests (48 bytes).
const adminToken = "bootstrap-admin-token-for-the-tests-0123456789AB"

// env is a running keygate (gateway.Gateway on loopback ports) with one
// proxied route, orders (API set orders), in front of an echo upstream,
// and the admin API on its own listener (httptest) over the same
// credential service (newAPI: the admin API alone, on httpkittest.Core).
// Everything either logs goes to logs.
type env struct {
	base  string // the public listener: http://127.0.0.1:port
	admin string // the admin API: http://127.0.0.1:port
	g     *gateway.Gateway
	svc   *authz.Service
	cfg   *config.Config
	logs  *observer.ObservedLogs
	// doc validates every call to the admin API against openapi.json
	// (e.call): an undocumented status, field or type fails the test.
	doc *httpkittest.OpenAPI
}

// forEachBackend runs f once per store, each with its own keygate.
func forEachBackend(t *testing.T, f func(t *testing.T, e *env)) {
	eachBackend(t, newEnv, f)
}

// forEachAPIBackend runs f once per store, each with its own admin API
// alone (newAPI).
func forEachAPIBackend(t *testing.T, f func(t *testing.T, e *env)) {
	eachBackend(t, newAPI, f)
}

func eachBackend(t *testing.T, start func(t *testing.T, backend, token string) *env, f func(t *testing.T, e *env)) {
	httpkittest.EachBackend(t, func(t *testing.T, b string) *env { return start(t, b, adminToken) }, f)
}

// newAPI starts the admin API alone on backend: admin.New on
// httpkittest.Core, served by httptest, for the tests that call only the
// admin API (no proxied route: base and g are empty).
func newAPI(t *testing.T, backend, token string) *env {
	t.Helper()
	cfg := httpkittest.Config(t, envYAML(httpkittest.StoreYAML(t, backend), "http://127.0.0.1:1"))
	core, logs := observer.New(zapcore.InfoLevel)
	_, svc := httpkittest.CoreLog(t, cfg, nil, zap.New(core))
	return serveAdmin(t, &env{svc: svc, cfg: cfg, logs: logs}, zap.New(core), token)
}

// newEnv starts a keygate on backend with the admin API's bootstrap
// token token ("" for none).
func newEnv(t *testing.T, backend, token string) *env {
	t.Helper()
	return startEnv(t, httpkittest.StoreYAML(t, backend), token)
}

func startEnv(t *testing.T, storeYAML, token string) *env {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	log := zap.New(core)
	g, cfg := gatewaytest.Gateway(t, envYAML(storeYAML, gatewaytest.Upstream(t)), log)
	return serveAdmin(t, &env{base: "http://" + g.Addr().String(), g: g, svc: g.Auth(), cfg: cfg, logs: logs}, log, token)
}

// envYAML is the config of the tests: the store section storeYAML, the
// test digest key, and the route orders to upstream.
func envYAML(storeYAML, upstream string) string {
	return fmt.Sprintf(`
%s
auth:
  digest_keys: [{id: t1, secret: "a-test-digest-key-of-at-least-32-bytes"}]
  lockout_threshold: 3
self_service: {max_password_failures_per_user: 5}
routes:
  - {name: orders, path_prefix: /orders, upstream: %s, api_set: orders, rate_limit: {rate: 1000, burst: 1000}}
`, storeYAML, upstream)
}

// serveAdmin serves the admin API over e.svc, logging to log, with the
// bootstrap token token on an httptest listener.
func serveAdmin(t *testing.T, e *env, log *zap.Logger, token string) *env {
	t.Helper()
	srv := httptest.NewServer(newHandler(t, e.svc, e.cfg, admin.Options{Logger: log, Token: token}))
	t.Cleanup(srv.Close)
	e.admin = srv.URL
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	e.doc = httpkittest.LoadOpenAPI(t, raw)
	return e
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
	if _, err := e.svc.Accounts.CreateUser(t.Context(), authz.User{Name: name, APISets: sets, Scopes: []string{"read", "write"}, Authorities: authorities}); err != nil {
		t.Fatal(err)
	}
}

// password sets name's password directly in the credential service and
// returns it as HTTP Basic.
func (e *env) password(t *testing.T, name, password string) string {
	t.Helper()
	if err := e.svc.Passwords.SetPassword(t.Context(), name, password); err != nil {
		t.Fatal(err)
	}
	return basic(name, password)
}

// createKey makes a named key for owner directly in the credential
// service and returns its token and credential.
func (e *env) createKey(t *testing.T, owner string, spec authz.KeySpec) (string, *authz.Credential) {
	t.Helper()
	tok, cred, err := e.svc.Accounts.CreateKey(t.Context(), owner, spec)
	if err != nil {
		t.Fatal(err)
	}
	return tok, cred
}

// key makes a named key for owner and returns "Bearer <token>".
func (e *env) key(t *testing.T, owner, handle string, scopes ...string) string {
	t.Helper()
	tok, _ := e.createKey(t, owner, authz.KeySpec{Handle: handle, Scopes: scopes})
	return bearer(tok)
}

// adminKey makes a named key for the admin API (as `keygate keys create
// --admin` does) and returns its Authorization value.
func (e *env) adminKey(t *testing.T, owner, handle string, scopes ...string) string {
	t.Helper()
	tok, _ := e.createKey(t, owner, authz.KeySpec{Handle: handle, Scopes: scopes, Admin: true})
	return bearer(tok)
}

func bearer(token string) string { return "Bearer " + token }

func basic(user, password string) string { return httpkittest.Basic(user, password) }

// response is what a call got back.
type response = httpkittest.Response

// do sends a request to url. ctype and body may be empty.
var do = httpkittest.Do

// call sends a request to the admin API, with a JSON body if body is not
// empty; a POST, PUT or PATCH says Content-Type application/json even
// without one, as every state-changing request must.
func (e *env) call(t *testing.T, method, path, authorization, body string) response {
	t.Helper()
	ctype := ""
	if body != "" || method == "POST" || method == "PUT" || method == "PATCH" {
		ctype = "application/json"
	}
	return httpkittest.DoWith(t, e.doc.Client(t), method, e.admin+path, authorization, ctype, body)
}

// proxied sends GET /orders/1 through keygate's public listener and
// returns the status.
func (e *env) proxied(t *testing.T, authorization string) int {
	t.Helper()
	return do(t, "GET", e.base+"/orders/1", authorization, "", "").Status
}

// waitProxied polls the proxied route until it answers want, for at most
// a second (the invalidation bound).
func (e *env) waitProxied(t *testing.T, what, authorization string, want int) {
	t.Helper()
	testkit.Eventually(t, time.Second, fmt.Sprintf("%s: the proxied route answers %d", what, want), func() bool {
		return e.proxied(t, authorization) == want
	})
}

var (
	want      = httpkittest.Want
	wantError = httpkittest.WantError
)

// audit returns the audit lines with action, failing the test unless
// there are n of them.
func (e *env) audit(t *testing.T, action string, n int) []observer.LoggedEntry {
	t.Helper()
	lines := e.adminAudit().FilterField(zap.String("audit", action)).All()
	if len(lines) != n {
		t.Fatalf("%d audit lines %q, want %d; the audit lines:\n%s", len(lines), action, n, dump(e.logs.FilterLoggerName("audit").All()))
	}
	return lines
}

// adminAudit are the audit lines of changes made through the admin API
// (not those the test made on the service directly).
func (e *env) adminAudit() *observer.ObservedLogs {
	return e.logs.FilterLoggerName("audit").FilterField(zap.String("via", "admin_api"))
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

// callWith sends a request to the admin API with the Content-Type ctype
// (may be empty), through the document's validator.
func (e *env) callWith(t *testing.T, method, path, authorization, ctype, body string) response {
	t.Helper()
	return httpkittest.DoWith(t, e.doc.Client(t), method, e.admin+path, authorization, ctype, body)
}
