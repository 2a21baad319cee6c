package gateway

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestHealthListener: /healthz, /readyz and /metrics are on the health
// listener and nowhere else; the admin API and pprof are on the admin
// listener and not on the health listener, whatever credentials are sent.
func TestHealthListener(t *testing.T) {
	const token = "a-bootstrap-admin-token-of-the-health-test-012345"
	cfg := parse(t, fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\npprof: true\nstore: {embedded: {path: %q}}\n%s",
		filepath.Join(t.TempDir(), "k.db"), route))
	g, _ := boot(t, cfg, Options{AdminToken: token})
	admin, health := "http://"+g.AdminAddr().String(), "http://"+g.HealthAddr().String()
	if g.HealthAddr().String() == g.AdminAddr().String() {
		t.Fatalf("health and admin listeners on one address %s", g.HealthAddr())
	}
	for _, tc := range []struct {
		path, body string // body: a line the health listener's answer holds
	}{
		{"/healthz", "ok\n"},
		{"/readyz", "ready\nstore: ok\n"},
		{"/metrics", "\nkeygate_ready 1\n"},
	} {
		if code, _, body := do(t, "GET", health+tc.path, ""); code != 200 || !strings.Contains(body, tc.body) {
			t.Errorf("GET %s on the health listener: %d %.200q; want 200 with %q", tc.path, code, body, tc.body)
		}
		if code, _, _ := do(t, "GET", admin+tc.path, "Bearer "+token); code != 404 {
			t.Errorf("GET %s on the admin listener: %d, want 404 (the health listener serves it)", tc.path, code)
		}
	}
	for _, p := range []string{"/admin/users", "/debug/pprof/"} {
		if code, _, body := do(t, "GET", admin+p, "Bearer "+token); code != 200 {
			t.Errorf("GET %s on the admin listener: %d %.200s, want 200", p, code, body)
		}
		if code, _, _ := do(t, "GET", health+p, "Bearer "+token); code != 404 {
			t.Errorf("GET %s on the health listener: %d, want 404 (the admin API and pprof stay on the admin listener)", p, code)
		}
	}
	if code, _, _ := do(t, "POST", health+"/admin/users", "Bearer "+token); code != 404 {
		t.Errorf("POST /admin/users on the health listener: %d, want 404", code)
	}
}

// TestBindNamesTheField: Bind with one listener's port taken returns a
// *ListenError naming that listener's config field with net.Listen's
// error, and leaves none of the others bound.
func TestBindNamesTheField(t *testing.T) {
	for _, field := range []string{"listen", "admin_listen", "health_listen", "tls.http_listen", "forward_auth.grpc_listen"} {
		t.Run(field, func(t *testing.T) {
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			addrs := map[string]string{}
			for _, f := range []string{"listen", "admin_listen", "health_listen", "tls.http_listen", "forward_auth.grpc_listen"} {
				addrs[f] = freeAddr(t)
			}
			addrs[field] = taken.Addr().String()
			cfg := parse(t, fmt.Sprintf(`listen: %s
admin_listen: %s
health_listen: %s
tls: {mode: files, cert_file: /nonexistent/tls.crt, key_file: /nonexistent/tls.key, http_listen: %q}
trusted_proxies: [127.0.0.1/32]
forward_auth: {enabled: true, grpc_listen: %q}
store: {embedded: {path: %q}}
%s`, addrs["listen"], addrs["admin_listen"], addrs["health_listen"], addrs["tls.http_listen"], addrs["forward_auth.grpc_listen"],
				filepath.Join(t.TempDir(), "k.db"), route))

			ls, err := Bind(cfg)
			if err == nil {
				ls.Close()
				t.Fatalf("Bind with %s's port taken: no error", field)
			}
			var le *ListenError
			want := field + ": listen tcp " + addrs[field] + ": bind: address already in use"
			if !errors.As(err, &le) || le.Field != field || err.Error() != want || !errors.Is(err, syscall.EADDRINUSE) {
				t.Errorf("Bind with %s's port taken: %v (%T); want a *ListenError %q", field, err, err, want)
			}
			for f, a := range addrs {
				if f == field {
					continue
				}
				l, err := net.Listen("tcp", a)
				if err != nil {
					t.Errorf("%s's address %s is still bound after Bind failed: %v", f, a, err)
					continue
				}
				l.Close()
			}
		})
	}
}
