package selfservice_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/keygate/keygate/api/selfservice"
	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/gateway"
	"github.com/keygate/keygate/internal/httpkit/httpkittest"
	"github.com/keygate/keygate/internal/httpkit/httpkittest/gatewaytest"
	"github.com/keygate/keygate/internal/redistest"
	"go.uber.org/zap"
)

// env is a running keygate (gateway.Gateway on loopback ports) with the
// self-service API on, two routes (orders and billing, API sets of the same
// names) in front of an echo upstream, and a real store.
type env struct {
	base string // http://127.0.0.1:port of the public listener
	g    *gateway.Gateway
	svc  *authz.Service
	// doc validates every call to the self-service API against
	// openapi.json (e.call): an undocumented status, field or type fails
	// the test.
	doc *httpkittest.OpenAPI
}

// loadDoc is openapi.json's validator; it fails the test unless the
// document is valid OpenAPI.
func loadDoc(t *testing.T) *httpkittest.OpenAPI {
	t.Helper()
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	return httpkittest.LoadOpenAPI(t, raw)
}

// forEachBackend runs f once per store, each with its own keygate.
func forEachBackend(t *testing.T, extra string, f func(t *testing.T, e *env)) {
	eachBackend(t, extra, newEnv, f)
}

// forEachAPIBackend runs f once per store, each with its own self-service
// API alone (newAPI).
func forEachAPIBackend(t *testing.T, extra string, f func(t *testing.T, e *env)) {
	eachBackend(t, extra, newAPI, f)
}

func eachBackend(t *testing.T, extra string, start func(t *testing.T, backend, extra string) *env, f func(t *testing.T, e *env)) {
	httpkittest.EachBackend(t, func(t *testing.T, b string) *env { return start(t, b, extra) }, f)
}

// newAPI starts the self-service API alone on backend: selfservice.New on
// httpkittest.Core, served by httptest, for the tests that call only the
// API (no proxied route, no admin listener; e.g is nil). extra is as for
// newEnv.
func newAPI(t *testing.T, backend, extra string) *env {
	t.Helper()
	cfg := httpkittest.Config(t, envYAML(httpkittest.StoreYAML(t, backend), extra, "http://127.0.0.1:1"))
	_, svc := httpkittest.Core(t, cfg, nil)
	h, err := selfservice.New(svc, cfg, selfservice.Options{Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{base: srv.URL, svc: svc, doc: loadDoc(t)}
}

// newEnv starts a keygate on backend ("embedded" or "redis"); extra is
// more YAML for the top level of the config (indented sections of
// self_service and oauth go in selfService and oauth).
func newEnv(t *testing.T, backend, extra string) *env {
	t.Helper()
	return startEnv(t, httpkittest.StoreYAML(t, backend), extra)
}

// redisStore is the store section for the redis-server at addr.
func redisStore(t *testing.T, addr string) string {
	return fmt.Sprintf("store: {driver: redis, redis: {addrs: [%q], key_prefix: %q, dial_timeout: 1s}}", addr, redistest.Prefix(t))
}

// startEnv starts a keygate with the store section storeYAML.
func startEnv(t *testing.T, storeYAML, extra string) *env {
	t.Helper()
	g, _ := gatewaytest.Gateway(t, envYAML(storeYAML, extra, gatewaytest.Upstream(t)), nil)
	return &env{base: "http://" + g.Addr().String(), g: g, svc: g.Auth(), doc: loadDoc(t)}
}

// envYAML is the config of the tests: the store section storeYAML, the
// test digest key, extra, the routes orders and billing to upstream, and
// the self-service API on unless extra has a self_service section.
func envYAML(storeYAML, extra, upstream string) string {
	y := fmt.Sprintf(`
%s
auth:
  digest_keys: [{id: t1, secret: "a-test-digest-key-of-at-least-32-bytes"}]
%s
routes:
  - {name: orders, path_prefix: /orders, upstream: %s, api_set: orders}
  - {name: billing, path_prefix: /billing, upstream: %s, api_set: billing}
`, storeYAML, extra, upstream, upstream)
	if !strings.Contains(extra, "self_service:") {
		y += "self_service: {enabled: true}\n"
	}
	return y
}

// user creates a user with a password ("pw-" and the name).
func (e *env) user(t *testing.T, name string, sets, scopes []string, authorities ...string) string {
	t.Helper()
	return basic(name, httpkittest.User(t, e.svc, name, sets, scopes, authorities...))
}

func basic(user, password string) string { return httpkittest.Basic(user, password) }

// clientBasic is HTTP Basic for an OAuth client (RFC 6749 §2.3.1:
// form-urlencoded first).
func clientBasic(id, secret string) string {
	return basic(url.QueryEscape(id), url.QueryEscape(secret))
}

// response is what a call got back.
type response = httpkittest.Response

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
	return httpkittest.DoWith(t, e.doc.Client(t), method, e.base+path, authorization, ctype, body)
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

var (
	want      = httpkittest.Want
	wantError = httpkittest.WantError
)

// createClient calls createClientId and returns the client id and secret.
func (e *env) createClient(t *testing.T, authorization, body string) (id, secret string) {
	t.Helper()
	r := e.postJSON(t, "/connect/register/createClientId", authorization, body)
	want(t, "createClientId", r, 200)
	var c struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}
	if err := json.Unmarshal(r.Body, &c); err != nil || c.ClientID == "" || c.ClientSecret == "" {
		t.Fatalf("createClientId: %s", r.Body)
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
	if err := json.Unmarshal(r.Body, &tk); err != nil || tk.AccessToken == "" {
		t.Fatalf("token response: %s", r.Body)
	}
	return tk
}

// wrongTokens calls a proxied route three times with the ApiKey key and
// a token that is not its own: as many strikes as void the key
// (auth.lockout_threshold's default).
func (e *env) wrongTokens(t *testing.T, key, token string) {
	t.Helper()
	for range 3 {
		e.call(t, "GET", "/orders/1", "ApiKey "+key+":"+token, "", "")
	}
}

// createKey makes a named key over HTTP and returns its token.
func (e *env) createKey(t *testing.T, authorization, body string) string {
	t.Helper()
	r := e.postJSON(t, "/user/keys", authorization, body)
	want(t, "POST /user/keys "+body, r, 201)
	var k struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(r.Body, &k); err != nil || k.Token == "" {
		t.Fatalf("POST /user/keys: %s", r.Body)
	}
	return k.Token
}

func keySpec(handle string) authz.KeySpec { return authz.KeySpec{Handle: handle} }

type userT = authz.User
