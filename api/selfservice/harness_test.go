package selfservice_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/gateway"
	"github.com/keygate/keygate/internal/echo"
	"github.com/keygate/keygate/internal/redistest"
)

// env is a running keygate (gateway.Gateway on loopback ports) with the
// self-service API on, two routes (orders and billing, API sets of the same
// names) in front of an echo upstream, and a real store.
type env struct {
	base string // http://127.0.0.1:port of the public listener
	g    *gateway.Gateway
	svc  *authz.Service
}

// backends are the stores every flow runs against: the embedded bbolt
// store in a temporary directory and a real redis-server.
var backends = []string{"embedded", "redis"}

// forEachBackend runs f once per store, each with its own keygate.
func forEachBackend(t *testing.T, extra string, f func(t *testing.T, e *env)) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel() // each has its own keygate and store
			f(t, newEnv(t, b, extra))
		})
	}
}

// newEnv starts a keygate on backend ("embedded" or "redis"); extra is
// more YAML for the top level of the config (indented sections of
// self_service and oauth go in selfService and oauth).
func newEnv(t *testing.T, backend, extra string) *env {
	t.Helper()
	switch backend {
	case "embedded":
		return startEnv(t, fmt.Sprintf("store: {driver: embedded, embedded: {path: %q}}", filepath.Join(t.TempDir(), "keygate.db")), extra)
	case "redis":
		return startEnv(t, redisStore(t, redistest.Addr(t)), extra)
	}
	t.Fatalf("unknown backend %q", backend)
	return nil
}

func redisStore(t *testing.T, addr string) string {
	return fmt.Sprintf("store: {driver: redis, redis: {addrs: [%q], key_prefix: %q, dial_timeout: 1s}}", addr, redistest.Prefix(t))
}

// startEnv starts a keygate with the store section storeYAML.
func startEnv(t *testing.T, storeYAML, extra string) *env {
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
%s
routes:
  - {name: orders, path_prefix: /orders, upstream: %s, api_set: orders}
  - {name: billing, path_prefix: /billing, upstream: %s, api_set: billing}
`, storeYAML, extra, up.URL, up.URL)
	if !strings.Contains(extra, "self_service:") {
		y += "self_service: {enabled: true}\n"
	}
	cfg, err := config.Parse("test.yaml", []byte(y), nil)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	g, err := gateway.New(context.Background(), cfg, gateway.Options{Logger: zap.NewNop()})
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
	return &env{base: "http://" + g.Addr().String(), g: g, svc: g.Auth()}
}

// user creates a user with a password ("pw-" and the name).
func (e *env) user(t *testing.T, name string, sets, scopes []string, authorities ...string) string {
	t.Helper()
	if _, err := e.svc.CreateUser(t.Context(), authz.User{Name: name, APISets: sets, Scopes: scopes, Authorities: authorities}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetPassword(t.Context(), name, "pw-"+name+"-secret"); err != nil {
		t.Fatal(err)
	}
	return basic(name, "pw-"+name+"-secret")
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// clientBasic is HTTP Basic for an OAuth client (RFC 6749 §2.3.1:
// form-urlencoded first).
func clientBasic(id, secret string) string {
	return basic(url.QueryEscape(id), url.QueryEscape(secret))
}

// response is what a call got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// json decodes the body into a generic value, failing the test if it is
// not JSON.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// call sends a request to keygate. ctype and body may be empty; a POST,
// PUT or PATCH with neither to the JSON API (not /oauth/, which takes form
// bodies, nor a proxied route) says Content-Type application/json, as a
// JSON client does and every state-changing request of the API must.
func (e *env) call(t *testing.T, method, path, authorization, ctype, body string) response {
	t.Helper()
	if ctype == "" && body == "" && (method == "POST" || method == "PUT" || method == "PATCH") &&
		(strings.HasPrefix(path, "/user") || strings.HasPrefix(path, "/connect/")) {
		ctype = "application/json"
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.base+path, rd)
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
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// postJSON sends a JSON body.
func (e *env) postJSON(t *testing.T, path, authorization, body string) response {
	t.Helper()
	return e.call(t, "POST", path, authorization, "application/json", body)
}

// postForm sends form parameters.
func (e *env) postForm(t *testing.T, path, authorization string, form url.Values) response {
	t.Helper()
	return e.call(t, "POST", path, authorization, "application/x-www-form-urlencoded", form.Encode())
}

// want fails the test unless the response has the status.
func want(t *testing.T, what string, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: got %s, want status %d", what, r, status)
	}
}

// wantError fails the test unless the response is an error with the
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

// createClient calls createClientId and returns the client id and secret.
func (e *env) createClient(t *testing.T, authorization, body string) (id, secret string) {
	t.Helper()
	r := e.postJSON(t, "/connect/register/createClientId", authorization, body)
	want(t, "createClientId", r, 200)
	var c struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}
	if err := json.Unmarshal(r.body, &c); err != nil || c.ClientID == "" || c.ClientSecret == "" {
		t.Fatalf("createClientId: %s", r.body)
	}
	return c.ClientID, c.ClientSecret
}

// tokens is /oauth/token's answer.
type tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

func (e *env) token(t *testing.T, authorization string, form url.Values) tokens {
	t.Helper()
	r := e.postForm(t, "/oauth/token", authorization, form)
	want(t, "token request "+form.Get("grant_type"), r, 200)
	var tk tokens
	if err := json.Unmarshal(r.body, &tk); err != nil || tk.AccessToken == "" {
		t.Fatalf("token response: %s", r.body)
	}
	return tk
}

// createKey makes a named key over HTTP and returns its token.
func (e *env) createKey(t *testing.T, authorization, body string) string {
	t.Helper()
	r := e.postJSON(t, "/user/keys", authorization, body)
	want(t, "POST /user/keys "+body, r, 201)
	var k struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(r.body, &k); err != nil || k.Token == "" {
		t.Fatalf("POST /user/keys: %s", r.body)
	}
	return k.Token
}

func keySpec(handle string) authz.KeySpec { return authz.KeySpec{Handle: handle} }

type userT = authz.User
