package httpkittest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/embedded"
	redisstore "github.com/keygate/keygate/store/redis"
)

// DigestKey is the auth section of the tests: one digest key.
const DigestKey = `auth: {digest_keys: [{id: t1, secret: "a-test-digest-key-of-at-least-32-bytes"}]}`

// Backends are the stores the main flows run against: the embedded bbolt
// store in a temporary directory and a real redis-server.
var Backends = []string{"embedded", "redis"}

// EachBackend runs f once per store of Backends, as a parallel subtest
// named after it, on what start builds on that store (each its own).
func EachBackend[E any](t *testing.T, start func(t *testing.T, backend string) E, f func(t *testing.T, e E)) {
	for _, b := range Backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel() // each has its own store and front end
			f(t, start(t, b))
		})
	}
}

// StoreYAML is the store section of a config for backend ("embedded" or
// "redis"), each test with a store of its own.
func StoreYAML(t *testing.T, backend string) string {
	t.Helper()
	switch backend {
	case "embedded":
		return fmt.Sprintf("store: {driver: embedded, embedded: {path: %q}}", filepath.Join(t.TempDir(), "keygate.db"))
	case "redis":
		return fmt.Sprintf("store: {driver: redis, redis: {addrs: [%q], key_prefix: %q, dial_timeout: 1s}}", redistest.Addr(t), redistest.Prefix(t))
	}
	t.Fatalf("unknown backend %q", backend)
	return ""
}

// Config parses a test config, failing the test (with the YAML) if it is
// not valid.
func Config(t *testing.T, y string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(y), nil)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	return cfg
}

// Core is the credential service on a real store, as the config says,
// without the rest of keygate: what a front end is built on. now, if not
// nil, is the service's clock. Both are closed when the test ends.
func Core(t *testing.T, cfg *config.Config, now func() time.Time) (store.Store, *authz.Service) {
	t.Helper()
	return CoreLog(t, cfg, now, nil)
}

// CoreLog is Core with the service logging to log (its audit lines among
// them); nil discards.
func CoreLog(t *testing.T, cfg *config.Config, now func() time.Time, log *zap.Logger) (store.Store, *authz.Service) {
	t.Helper()
	var st store.Store
	var err error
	if cfg.Store.Driver == config.DriverRedis {
		st, err = redisstore.New(context.Background(), cfg.Store.Redis, zap.NewNop(), prometheus.NewRegistry())
	} else {
		st, err = embedded.Open(context.Background(), cfg.Store.Embedded, zap.NewNop())
	}
	if err != nil {
		t.Fatal(err)
	}
	svc, err := authz.New(context.Background(), cfg.Auth, st, authz.Options{Logger: log, OAuth: cfg.OAuth, SelfService: cfg.SelfService, Now: now})
	if err != nil {
		_ = st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		svc.Close()
		_ = st.Close()
	})
	return st, svc
}

// User makes a user on svc with these API sets, scopes and authorities
// and the password "pw-<name>-secret", which it returns.
func User(t *testing.T, svc *authz.Service, name string, sets, scopes []string, authorities ...string) string {
	t.Helper()
	if _, err := svc.Accounts.CreateUser(t.Context(), authz.User{Name: name, APISets: sets, Scopes: scopes, Authorities: authorities}); err != nil {
		t.Fatal(err)
	}
	password := "pw-" + name + "-secret"
	if err := svc.Passwords.SetPassword(t.Context(), name, password); err != nil {
		t.Fatal(err)
	}
	return password
}

// RevokeKey revokes owner's named key handle as an administrator does
// (authz's Revoke): the record stays, marked revoked.
func RevokeKey(t *testing.T, svc *authz.Service, owner, handle string) {
	t.Helper()
	cred, err := svc.Accounts.KeyByHandle(t.Context(), owner, handle)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Accounts.Revoke(t.Context(), cred.ID); err != nil {
		t.Fatal(err)
	}
}

// Basic is an HTTP Basic Authorization value.
func Basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// Response is what a call got back.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r Response) String() string { return fmt.Sprintf("%d %s", r.Status, r.Body) }

// JSON decodes the body into a generic value, failing the test if it is
// not a JSON object.
func (r Response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// Do sends a request to url on a real connection. ctype, authorization
// and body may be empty.
func Do(t *testing.T, method, url, authorization, ctype, body string) Response {
	t.Helper()
	return DoWith(t, http.DefaultClient, method, url, authorization, ctype, body)
}

// DoWith is Do with client, for example an OpenAPI validator's.
func DoWith(t *testing.T, client *http.Client, method, url, authorization, ctype, body string) Response {
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
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Want fails the test unless the response has the status.
func Want(t *testing.T, what string, r Response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: got %s, want status %d", what, r, status)
	}
}

// WantError fails the test unless the response is a JSON error with the
// status and code; it returns the description.
func WantError(t *testing.T, what string, r Response, status int, code string) string {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: got %s, want %d %s", what, r, status, code)
		return ""
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.Error != code {
		t.Errorf("%s: body %s, want error %q", what, r.Body, code)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	return body.Description
}
