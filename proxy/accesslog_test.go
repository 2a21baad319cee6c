package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/store/embedded"
)

// TestAccessLogFields (issue 19.1): with a real Verifier, each access line
// names the route, host and user agent, the user, credential id and kind
// once a credential was verified, and the reason of a refusal; and no
// token, ApiKey pair, cookie or query string appears in any line written,
// as encoded JSON.
func TestAccessLogFields(t *testing.T) {
	up := newUpstream(t, "up")
	st, err := embedded.Open(t.Context(), config.Embedded{Path: filepath.Join(t.TempDir(), "k.db")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	yaml := fmt.Sprintf(`
auth:
  digest_keys: [{id: t1, secret: "access-log-test-digest-key-32-bytes-long"}]
  failure_limit: {rate: -1}
  key_failure_limit: {rate: -1}
routes:
  - {name: orders, path_prefix: /orders, upstream: %s, api_set: orders}
  - {name: limited, path_prefix: /limited, upstream: %s, api_set: orders, rate_limit: {rate: 1, per: 1h, burst: 1}}
`, up.URL, up.URL)
	cfg, err := config.Parse("t.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := authz.New(t.Context(), cfg.Auth, st, authz.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	ctx := t.Context()
	if _, err := svc.Accounts.CreateUser(ctx, authz.User{Name: "olga", APISets: []string{"orders"}, Scopes: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	keyTok, cred, err := svc.Accounts.CreateKey(ctx, "olga", authz.KeySpec{Handle: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	apiKey, apiTok, err := svc.Accounts.NewAPIKeyToken(ctx, "olga")
	if err != nil {
		t.Fatal(err)
	}
	unknown := authz.NewToken(authz.KindKeyToken)

	var buf testkit.Buffer
	gw := newGateway(t, yaml, Options{Logger: benchLogger(&buf), Authenticator: svc.Verifier})
	const ua = "orders-client/1.2"
	send := func(method, path, authorization string) int {
		req, _ := http.NewRequest(method, gw.URL+path, nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		req.Header.Set("User-Agent", ua)
		req.Header.Set("Cookie", "session=cookiesecret; kg=othercookie")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	tests := []struct {
		name, method, path, authorization string
		status                            int
		want                              map[string]any
	}{
		{"key token", "GET", "/orders/1?token=querysecret", "Bearer " + keyTok, 200,
			map[string]any{"route": "orders", "user": "olga", "credential_id": cred.ID, "credential_kind": string(authz.KindKeyToken), "reason": nil}},
		{"ApiKey pair", "GET", "/orders/2?api_key=querysecret", "ApiKey " + apiKey + ":" + apiTok, 200,
			map[string]any{"route": "orders", "user": "olga", "credential_kind": string(authz.KindAPIKey)}},
		{"no credential", "GET", "/orders/3", "", 401, map[string]any{"reason": "missing", "user": nil}},
		{"malformed", "GET", "/orders/4", "Bearer " + keyTok + " extra", 400, map[string]any{"reason": "malformed"}},
		{"unknown", "GET", "/orders/5", "Bearer " + unknown, 401, map[string]any{"reason": "unknown", "user": nil, "credential_id": nil}},
		{"scope", "POST", "/orders/6", "Bearer " + keyTok, 403, map[string]any{"reason": "scope_denied"}},
		{"first of the limit", "GET", "/limited/1", "Bearer " + keyTok, 200, map[string]any{"route": "limited"}},
		{"over the limit", "GET", "/limited/2", "Bearer " + keyTok, 429, map[string]any{"route": "limited", "reason": "rate_limited", "user": "olga"}},
	}
	for _, tt := range tests {
		buf.Reset()
		if got := send(tt.method, tt.path, tt.authorization); got != tt.status {
			t.Fatalf("%s: status %d, want %d", tt.name, got, tt.status)
		}
		var line map[string]any
		for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
			var m map[string]any
			if err := json.Unmarshal(l, &m); err != nil {
				t.Fatalf("%s: log line %q: %v", tt.name, l, err)
			}
			if m["msg"] == "request" {
				line = m
			}
		}
		if line == nil {
			t.Fatalf("%s: no access line in %s", tt.name, buf.Bytes())
		}
		want := map[string]any{"host": strings.TrimPrefix(gw.URL, "http://"), "user_agent": ua, "status": float64(tt.status)}
		for k, v := range tt.want {
			want[k] = v
		}
		for k, v := range want {
			if line[k] != v {
				t.Errorf("%s: %s = %v, want %v", tt.name, k, line[k], v)
			}
		}
		for _, secret := range []string{keyTok, apiKey, apiTok, unknown, "cookiesecret", "othercookie", "querysecret", "token=", "api_key="} {
			if bytes.Contains(buf.Bytes(), []byte(secret)) {
				t.Errorf("%s: a log line holds %q: %s", tt.name, secret, buf.Bytes())
			}
		}
	}
}
