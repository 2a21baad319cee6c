package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/keygate/keygate/api/admin"
	"github.com/keygate/keygate/internal/redistest"
)

// TestAdminAPIOnTwoInstances: the admin API is mounted on the admin
// listener with the bootstrap token (KEYGATE_ADMIN_TOKEN); a user made
// and a key revoked through instance 1 take effect on instance 2 (same
// Redis) within a second; the revocation is audited with its actor; the
// probes and metrics, on the health listener, need no authentication.
func TestAdminAPIOnTwoInstances(t *testing.T) {
	const token = "a-bootstrap-admin-token-of-the-gateway-test-0123"
	srv := redistest.Start(t)
	up := echoUpstream(t)
	y := redisGateway(srv.Addr(), redistest.Prefix(t), up.URL, "")
	g1, logs := startLogged(t, parse(t, y), Options{AdminToken: token})
	g2, _ := boot(t, parse(t, y), Options{AdminToken: token})
	if logs.FilterMessageSnippet("bootstrap admin token set").Len() != 1 {
		t.Error("no log line at start saying the bootstrap admin token is set")
	}

	code, _, body := adminCall(t, g1, "POST", "/admin/users", "Bearer "+token, `{"name": "alice", "apiSets": ["orders"]}`)
	if code != 201 {
		t.Fatalf("create a user with the bootstrap token: %d %s", code, body)
	}
	kt := namedKey(t, g2, "alice", "ci")
	url2 := "http://" + g2.Addr().String() + "/orders/1"
	if code, _, body := do(t, "GET", url2, "Bearer "+kt); code != 200 {
		t.Fatalf("alice's key on instance 2: %d %s", code, body)
	}

	code, _, body = adminCall(t, g1, "GET", "/admin/users/alice/credentials", "Bearer "+token, "")
	var list struct {
		Credentials []struct{ ID, Handle string } `json:"credentials"`
	}
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list.Credentials) != 1 {
		t.Fatalf("alice's credentials: %d %s", code, body)
	}
	id := list.Credentials[0].ID
	if code, _, body := adminCall(t, g1, "DELETE", "/admin/credentials/"+id, "Bearer "+token, ""); code != 204 {
		t.Fatalf("revoke through instance 1: %d %s", code, body)
	}
	waitCode(t, time.Second, "instance 2 refusing (401) a key revoked through instance 1's admin API", url2, "Bearer "+kt, 401)
	audit := logs.FilterField(zap.String("audit", "revoke")).FilterField(zap.String("via", "admin_api")).All()
	if len(audit) != 1 || audit[0].ContextMap()["actor"] != "<admin token>" || audit[0].ContextMap()["target"] != id || audit[0].ContextMap()["user"] != "alice" {
		t.Errorf("admin audit lines of the revocation: %v", audit)
	}
	for _, l := range logs.All() {
		if line := l.Message + fmt.Sprint(l.ContextMap()); strings.Contains(line, token) || strings.Contains(line, kt) {
			t.Errorf("a log line holds a secret: %s", line)
		}
	}

	// The probes and metrics are on the health listener, without
	// credentials (TestHealthListener has the rest).
	admin, health := "http://"+g1.AdminAddr().String(), "http://"+g1.HealthAddr().String()
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		if code, _, _ := do(t, "GET", health+p, ""); code != 200 {
			t.Errorf("GET %s on the health listener without credentials: %d, want 200", p, code)
		}
	}
	if code, h, body := do(t, "GET", admin+"/admin", ""); code != 404 || h.Get("Content-Type") != "application/json" {
		t.Errorf("GET /admin: %d %q %s, want a JSON 404", code, h.Get("Content-Type"), body)
	}
	if code, _, _ := do(t, "GET", "http://"+g1.Addr().String()+"/admin/users", "Bearer "+token); code != 404 {
		t.Errorf("the admin API on the public listener: %d, want 404 (no route)", code)
	}
}

// TestAdminAPIFailsClosed: without KEYGATE_ADMIN_TOKEN and without an
// ADMIN user the admin API refuses everything with 401; a token that is
// too short is not used, with a warning at start.
func TestAdminAPIFailsClosed(t *testing.T) {
	for _, token := range []string{"", "short"} {
		t.Run(fmt.Sprintf("token=%q", token), func(t *testing.T) {
			g, logs := startLogged(t, parse(t, fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
store: {driver: embedded, embedded: {path: %q}}
routes:
  - {name: orders, path_prefix: /orders, upstream: http://127.0.0.1:1, api_set: orders}
`, t.TempDir()+"/keygate.db")), Options{AdminToken: token})
			if token != "" && logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet(admin.EnvToken+" is shorter than 32 bytes").Len() != 1 {
				t.Errorf("no warning at start about the short token")
			}
			tries := []string{""}
			if token != "" {
				tries = append(tries, "Bearer "+token)
			}
			for _, authorization := range tries {
				for _, p := range []string{"/admin/users", "/admin/users/root"} {
					if code, _, body := adminCall(t, g, "GET", p, authorization, ""); code != 401 {
						t.Errorf("GET %s with %q: %d %s, want 401", p, authorization, code, body)
					}
				}
				if code, _, body := adminCall(t, g, "POST", "/admin/users", authorization, `{"name": "root", "authorities": ["ADMIN"]}`); code != 401 {
					t.Errorf("POST /admin/users with %q: %d %s, want 401", authorization, code, body)
				}
			}
		})
	}
}
