package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testkit"
)

const route = "routes:\n  - {name: r, path_prefix: /, upstream: http://127.0.0.1:1, auth: none}\n"

// TestReadyzFollowsRedis stops a real redis-server under a running gateway,
// in both readiness modes. By default /readyz stays 200 (this replica can
// still serve what it has cached) and reports the store in its body and in
// keygate_store_up; with readiness.require_store it turns 503. /healthz
// stays 200, and everything recovers when Redis is back, without a restart.
func TestReadyzFollowsRedis(t *testing.T) {
	for _, tc := range []struct {
		requireStore bool
		downCode     int
		downBody     string
	}{
		{false, 200, "ready\nstore: unreachable\n"},
		{true, 503, "not ready: store unreachable (readiness.require_store)\nstore: unreachable\n"},
	} {
		t.Run(fmt.Sprintf("require_store=%t", tc.requireStore), func(t *testing.T) {
			srv := redistest.Start(t)
			cfg := parse(t, fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\nstore: {driver: redis, redis: {addrs: [%q], key_prefix: %q}}\nreadiness: {require_store: %t}\n%s",
				srv.Addr(), redistest.Prefix(t), tc.requireStore, route))
			g, _ := start(t, cfg)
			health := "http://" + g.HealthAddr().String()

			waitReadyz(t, health, 200, "ready\nstore: ok\n")
			srv.Stop()
			waitReadyz(t, health, tc.downCode, tc.downBody)
			if got := gaugeValue(t, g, "keygate_store_up", ""); got != 0 {
				t.Errorf("keygate_store_up with Redis down: %v, want 0", got)
			}
			if code, _ := getStatus(t, health+"/healthz"); code != 200 {
				t.Errorf("/healthz with Redis down: %d, want 200 (alive)", code)
			}
			srv.Restart()
			waitReadyz(t, health, 200, "ready\nstore: ok\n")

			_, metrics := getStatus(t, health+"/metrics")
			for _, want := range []string{"keygate_ready 1", "keygate_store_up 1", "keygate_build_info{", "keygate_requests_in_flight 0", "go_goroutines"} {
				if !strings.Contains(metrics, want) {
					t.Errorf("/metrics has no %q", want)
				}
			}
		})
	}
}

// waitReadyz waits up to 10s until the health listener's /readyz answers
// code with body.
func waitReadyz(t *testing.T, health string, code int, body string) {
	t.Helper()
	var gotCode int
	var gotBody string
	testkit.Eventually(t, 10*time.Second, fmt.Sprintf("/readyz answering %d %q", code, body), func() bool {
		gotCode, gotBody = getStatus(t, health+"/readyz")
		return gotCode == code && gotBody == body
	})
}

func TestReadyzEmbedded(t *testing.T) {
	dir := t.TempDir()
	cfg := parse(t, fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\nstore: {embedded: {path: %q}}\n%s", filepath.Join(dir, "k.db"), route))
	g, stop := start(t, cfg)
	waitStatus(t, "http://"+g.HealthAddr().String()+"/readyz", 200)
	stop()
}

// TestStoreErrorsNameTheField: a store that cannot be opened stops start-up
// with an error naming the config field.
func TestStoreErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "k.db")
	cfg := parse(t, fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\nstore: {embedded: {path: %q}}\n%s", db, route))
	start(t, cfg) // holds the file's lock
	if _, err := New(context.Background(), cfg, Options{Logger: zap.NewNop()}); err == nil || !strings.HasPrefix(err.Error(), "store.embedded.path:") {
		t.Errorf("second gateway on a locked file: %v, want an error starting with store.embedded.path:", err)
	}

	unreachable := parse(t, "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\nstore: {driver: redis, redis: {addrs: [\"127.0.0.1:1\"], dial_timeout: 200ms}}\n"+route)
	if _, err := New(context.Background(), unreachable, Options{Logger: zap.NewNop()}); err == nil || !strings.HasPrefix(err.Error(), "store.redis:") {
		t.Errorf("unreachable Redis: %v, want an error starting with store.redis:", err)
	}
}

// TestReloadKeepsListeners: Reload swaps routes and warns about fields that
// need a restart instead of applying them half-way.
func TestReloadKeepsListeners(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "up") }))
	defer up.Close()
	dir := t.TempDir()
	base := fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\nstore: {embedded: {path: %q}}\n", filepath.Join(dir, "k.db"))
	g, _ := start(t, parse(t, base+fmt.Sprintf("routes:\n  - {name: a, path_prefix: /a, upstream: %s, auth: none}\n", up.URL)))
	pub := "http://" + g.Addr().String()
	if code, _ := getStatus(t, pub+"/b"); code != 404 {
		t.Fatalf("/b before reload: %d", code)
	}
	next := parse(t, strings.Replace(base, "listen: 127.0.0.1:0", "listen: 127.0.0.1:1", 1)+fmt.Sprintf("log: {level: debug}\nroutes:\n  - {name: b, path_prefix: /b, upstream: %s, auth: none}\n", up.URL))
	if err := g.Reload(next); err != nil {
		t.Fatal(err)
	}
	if code, _ := getStatus(t, pub+"/b"); code != 200 {
		t.Errorf("/b after reload: %d, want 200 on the listener that was already bound", code)
	}
	if code, _ := getStatus(t, pub+"/a"); code != 404 {
		t.Errorf("/a after reload: %d, want 404 (route removed)", code)
	}
	if !g.level.Enabled(zap.DebugLevel) {
		t.Error("log level not changed by reload")
	}
}

func TestPprofSwitch(t *testing.T) {
	for _, on := range []bool{false, true} {
		dir := t.TempDir()
		cfg := parse(t, fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\npprof: %v\nstore: {embedded: {path: %q}}\n%s", on, filepath.Join(dir, "k.db"), route))
		g, stop := start(t, cfg)
		code, _ := getStatus(t, "http://"+g.AdminAddr().String()+"/debug/pprof/")
		if want := map[bool]int{false: 404, true: 200}[on]; code != want {
			t.Errorf("pprof: %v: /debug/pprof/ answered %d, want %d", on, code, want)
		}
		stop()
	}
}
