package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestIsSelfService(t *testing.T) {
	checkDispatch(t, "isSelfService(%q)", isSelfService, []dispatchCase{
		{"/user", true},
		{"/user?x=1", true},
		{"/user/keys/ci", true},
		{"/oauth/token", true},
		{"/connect/register/createClientId", true},
		{"/openapi.json", true},
		{"/users", false},
		{"/userx/keys", false},
		{"/oauthx", false},
		{"/openapi.jsonx", false},
		{"/connect", false},
		{"/connect/registerx", false},
		{"/orders/user", false},
		{"/%75ser", false}, // to the proxy, which matches no route: 404
		{"/", false},
	})
}

// TestSelfServiceDispatch: with self_service on, the public listener
// answers the self-service paths itself and proxies the rest; off, those
// paths are just unrouted (404) and never proxied.
func TestSelfServiceDispatch(t *testing.T) {
	up := echoUpstream(t)
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("enabled=%v", on), func(t *testing.T) {
			g, _ := start(t, parse(t, fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
store: {driver: embedded, embedded: {path: %q}}
self_service: {enabled: %v}
routes:
  - {name: orders, path_prefix: /orders, upstream: %s, auth: none}
`, t.TempDir()+"/keygate.db", on, up.URL)))
			base := "http://" + g.Addr().String()
			code, h, body := do(t, "GET", base+"/user", "")
			if on && (code != 401 || !strings.Contains(strings.Join(h.Values("Www-Authenticate"), ","), `Basic realm="keygate"`)) {
				t.Errorf("GET /user, self-service on: %d %q %s; want 401 with a Basic challenge", code, h.Values("Www-Authenticate"), body)
			}
			if !on && code != http.StatusNotFound {
				t.Errorf("GET /user, self-service off: %d %s; want 404", code, body)
			}
			if code, _, body := do(t, "GET", base+"/%75ser", ""); code != http.StatusNotFound {
				t.Errorf("GET /%%75ser: %d %s; want 404 (never proxied)", code, body)
			}
			if code, _, body := do(t, "GET", base+"/orders/1", ""); code != 200 || !strings.Contains(body, `"path": "/orders/1"`) {
				t.Errorf("proxied route: %d %s", code, body)
			}
		})
	}
}

// BenchmarkIsSelfService is what the self-service dispatch adds to every
// proxied request.
func BenchmarkIsSelfService(b *testing.B) {
	r := httptest.NewRequest("GET", "/orders/12345?x=1", nil)
	b.ReportAllocs()
	for b.Loop() {
		if isSelfService(r) {
			b.Fatal("proxied path taken for self-service")
		}
	}
}
