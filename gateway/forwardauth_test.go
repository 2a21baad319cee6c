package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testkit"
)

// forwardAuthGateway is a gateway on Redis with forward auth on: routes
// without upstream (orders, billing, and limited: one request a minute
// per credential), the check endpoint for 127.0.0.1 only, the Envoy
// prefix and the ext_authz gRPC listener.
func forwardAuthGateway(addr, prefix string) string {
	return fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
trusted_proxies: [127.0.0.1]
store: {driver: redis, redis: {addrs: [%q], key_prefix: %q, dial_timeout: 1s}}
auth:
  digest_keys: [{id: t1, secret: "a-test-digest-key-of-at-least-32-bytes"}]
  failure_limit: {rate: -1}
  upstream_identity: [user, scopes]
forward_auth: {enabled: true, envoy_prefix: /_envoy, grpc_listen: "127.0.0.1:0"}
routes:
  - {name: orders, path_prefix: /orders, api_set: orders}
  - {name: billing, path_prefix: /billing, api_set: billing}
  - {name: limited, path_prefix: /limited, api_set: orders, rate_limit: {rate: 1, per: 1m, burst: 1, key: credential, mode: exact}}
`, addr, prefix)
}

// fwdFixture is a running forward-auth gateway on a real redis-server
// with the user reader (API set orders, scope read only): a token used
// from the start (read), one kept unused until Redis is stopped (fresh),
// and the gateway's check URL.
type fwdFixture struct {
	redis       *redistest.Server
	g           *Gateway
	read, fresh string
	check       string
}

func newFwdFixture(t *testing.T) *fwdFixture {
	t.Helper()
	srv := redistest.Start(t)
	g, _ := start(t, parse(t, forwardAuthGateway(srv.Addr(), redistest.Prefix(t))))
	if _, err := g.Auth().Accounts.CreateUser(t.Context(), authz.User{Name: "reader", APISets: []string{"orders"}, Scopes: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	return &fwdFixture{
		redis: srv, g: g,
		read:  namedKey(t, g, "reader", "read"),
		fresh: namedKey(t, g, "reader", "fresh"),
		check: "http://" + g.Addr().String() + "/_keygate/auth",
	}
}

// ask sends a check request with headers (name, value pairs).
func ask(t *testing.T, client *http.Client, url string, headers ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestForwardAuthCheckEndpoint: the check endpoint as Traefik (the
// X-Forwarded-* contract; Traefik itself is not packaged here), nginx
// (X-Original-*) and Envoy's HTTP service mode ask it: the same decisions
// as a proxied request, 200 with the identity headers, refusals with
// their challenges, 400 for an untrusted peer or a missing header,
// nothing proxied, the credential never echoed, and the checks counted
// with mode forward_auth.
func TestForwardAuthCheckEndpoint(t *testing.T) {
	f := newFwdFixture(t)
	c := http.DefaultClient
	bearer := "Bearer " + f.read
	traefik := func(method, uri string, more ...string) []string {
		return append([]string{"X-Forwarded-Method", method, "X-Forwarded-Proto", "https", "X-Forwarded-Host", "api.example", "X-Forwarded-Uri", uri, "X-Forwarded-For", "203.0.113.9"}, more...)
	}
	for _, tt := range []struct {
		name    string
		url     string
		headers []string
		want    int
		user    string // X-Keygate-User wanted on a 200
		code    string // the JSON error code wanted otherwise
	}{
		{"traefik: read-only GET", f.check, traefik("GET", "/orders/1?x=1", "Authorization", bearer), 200, "reader", ""},
		{"traefik: read-only DELETE", f.check, traefik("DELETE", "/orders/1", "Authorization", bearer), 403, "", "insufficient_scope"},
		{"traefik: another API set", f.check, traefik("GET", "/billing/1", "Authorization", bearer), 403, "", "insufficient_scope"},
		{"traefik: no credential", f.check, traefik("GET", "/orders/1"), 401, "", "unauthorized"},
		{"traefik: wrong token", f.check, traefik("GET", "/orders/1", "Authorization", "Bearer kg_nope"), 401, "", "invalid_token"},
		{"traefik: unknown path", f.check, traefik("GET", "/nowhere", "Authorization", bearer), 404, "", "not_found"},
		{"traefik: refused path", f.check, traefik("GET", "/orders/%2e%2e/billing", "Authorization", bearer), 400, "", "invalid_request"},
		{"traefik: spoofed identity is not believed", f.check, traefik("GET", "/orders/1", "X-Keygate-User", "admin"), 401, "", "unauthorized"},
		{"nginx: X-Original-URI", f.check, []string{"X-Original-Method", "GET", "X-Original-URI", "/orders/2", "Authorization", bearer}, 200, "reader", ""},
		{"ingress-nginx: X-Original-URL", f.check, []string{"X-Original-Method", "GET", "X-Original-URL", "https://api.example/orders/3", "Authorization", bearer}, 200, "reader", ""},
		{"no method", f.check, []string{"X-Forwarded-Uri", "/orders/1", "Authorization", bearer}, 400, "", "invalid_request"},
		{"no URI", f.check, []string{"X-Forwarded-Method", "GET", "Authorization", bearer}, 400, "", "invalid_request"},
		{"methods disagree", f.check, traefik("GET", "/orders/1", "X-Original-Method", "DELETE", "Authorization", bearer), 400, "", "invalid_request"},
		{"envoy: allowed", "http://" + f.g.Addr().String() + "/_envoy/orders/4", []string{"Authorization", bearer}, 200, "reader", ""},
		{"envoy: another API set", "http://" + f.g.Addr().String() + "/_envoy/billing/4", []string{"Authorization", bearer}, 403, "", "insufficient_scope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := ask(t, c, tt.url, tt.headers...)
			if code != tt.want {
				t.Fatalf("status %d, want %d (%s)", code, tt.want, body)
			}
			if strings.Contains(body, f.read) || strings.Contains(fmt.Sprint(h), f.read) {
				t.Errorf("the answer echoes the credential: %v %s", h, body)
			}
			if code == 200 {
				if got := h.Get("X-Keygate-User"); got != tt.user {
					t.Errorf("X-Keygate-User %q, want %q", got, tt.user)
				}
				if got := h.Get("X-Keygate-Scopes"); got != "read" {
					t.Errorf("X-Keygate-Scopes %q, want read", got)
				}
				if h.Get("X-Keygate-Credential-Id") != "" {
					t.Error("X-Keygate-Credential-Id sent though auth.upstream_identity leaves it out")
				}
				return
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error != tt.code {
				t.Errorf("body %q, want error %q", body, tt.code)
			}
			if code == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge: %v", h["Www-Authenticate"])
			}
		})
	}

	t.Run("untrusted peer", func(t *testing.T) {
		other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
		code, _, body := ask(t, other, f.check, traefik("GET", "/orders/1", "Authorization", bearer)...)
		if code != 400 || !strings.Contains(body, "trusted_proxies") {
			t.Errorf("a check from 127.0.0.2: %d %s, want 400 naming trusted_proxies", code, body)
		}
	})
	t.Run("a route without upstream is not proxied", func(t *testing.T) {
		if code, _, body := do(t, "GET", "http://"+f.g.Addr().String()+"/orders/1", bearer); code != 404 {
			t.Errorf("proxied GET /orders/1: %d %s, want 404", code, body)
		}
	})
	t.Run("rate limit", func(t *testing.T) {
		if code, _, body := ask(t, c, f.check, traefik("GET", "/limited/1", "Authorization", bearer)...); code != 200 {
			t.Fatalf("first: %d %s", code, body)
		}
		code, h, body := ask(t, c, f.check, traefik("GET", "/limited/1", "Authorization", bearer)...)
		if code != 429 || h.Get("Retry-After") == "" {
			t.Errorf("second: %d %v %s, want 429 with Retry-After", code, h, body)
		}
	})
	t.Run("metrics and access log tell the modes apart", func(t *testing.T) {
		_, _, metrics := do(t, "GET", "http://"+f.g.HealthAddr().String()+"/metrics", "")
		if !strings.Contains(metrics, `keygate_requests_total{code="200",method="GET",mode="forward_auth",route="orders"}`) {
			t.Errorf("no forward_auth series for orders:\n%s", grep(metrics, "keygate_requests_total"))
		}
		if !strings.Contains(metrics, `keygate_requests_total{code="404",method="GET",mode="proxy",route="unmatched"} 1`) {
			t.Errorf("the proxied GET of a route without upstream is not one proxy-mode 404:\n%s", grep(metrics, "mode=\"proxy\""))
		}
	})
	t.Run("store down", func(t *testing.T) {
		f.redis.Stop()
		code, h, body := ask(t, c, f.check, traefik("GET", "/orders/1", "Authorization", "Bearer "+f.fresh)...)
		if code != 503 || h.Get("Retry-After") == "" {
			t.Errorf("with Redis stopped: %d %v %s, want 503 with Retry-After", code, h, body)
		}
	})
}

// waitListening waits until something accepts connections on addr.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "something listening on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}
