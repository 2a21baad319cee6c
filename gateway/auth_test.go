package gateway

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/echo"
	"github.com/keygate/keygate/internal/redistest"
)

// redisGateway is the config of a gateway on a shared Redis, with a
// configured digest key so that every instance digests alike.
func redisGateway(addr, prefix, upstream string, extra string) string {
	return fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
store: {driver: redis, redis: {addrs: [%q], key_prefix: %q, dial_timeout: 1s}}
auth:
  digest_keys: [{id: t1, secret: "a-test-digest-key-of-at-least-32-bytes"}]
%s
routes:
  - {name: orders, path_prefix: /orders, upstream: %s, api_set: orders}
`, addr, prefix, extra, upstream)
}

// aliceOnRedis starts a redis-server and a gateway on it (redisGateway
// with the auth section's extra lines) whose orders route goes to an echo
// upstream, with the user alice: the server, the gateway and the URL of
// /orders/1.
func aliceOnRedis(t *testing.T, authExtra string) (*redistest.Server, *Gateway, string) {
	t.Helper()
	srv := redistest.Start(t)
	up := echoUpstream(t)
	g, _ := start(t, parse(t, redisGateway(srv.Addr(), redistest.Prefix(t), up.URL, authExtra)))
	newAlice(t, g.Auth())
	return srv, g, "http://" + g.Addr().String() + "/orders/1"
}

// warmOnRedis is aliceOnRedis with cache_ttl 100ms and stale_if_error 1m,
// and two named keys of alice's: warm, sent once through the gateway (its
// verification is cached), and cold, never sent.
func warmOnRedis(t *testing.T) (srv *redistest.Server, g *Gateway, base, warm, cold string) {
	t.Helper()
	srv, g, base = aliceOnRedis(t, "  cache_ttl: 100ms\n  stale_if_error: 1m")
	warm = namedKey(t, g, "alice", "warm")
	cold = namedKey(t, g, "alice", "cold")
	if code, _, _ := do(t, "GET", base, "Bearer "+warm); code != 200 {
		t.Fatalf("warm-up: %d", code)
	}
	return srv, g, base, warm, cold
}

func echoUpstream(t *testing.T) *httptest.Server {
	up := httptest.NewServer(echo.Handler{})
	t.Cleanup(up.Close)
	return up
}

func newAlice(t *testing.T, a *authz.Service) {
	t.Helper()
	if _, err := a.Accounts.CreateUser(t.Context(), authz.User{Name: "alice", APISets: []string{"orders"}, Scopes: []string{"read", "write"}}); err != nil {
		t.Fatal(err)
	}
}

// TestTwoInstancesVoidAndRevoke runs two keygate gateways on one real
// redis-server: wrong ApiKey tokens sent to both void the token after
// exactly the threshold, and a revocation on one is refused by the other
// within a second.
func TestTwoInstancesVoidAndRevoke(t *testing.T) {
	srv := redistest.Start(t)
	up := echoUpstream(t)
	prefix := redistest.Prefix(t)
	y := redisGateway(srv.Addr(), prefix, up.URL, "  lockout_threshold: 3")
	g1, _ := start(t, parse(t, y))
	g2, _ := start(t, parse(t, y))
	urls := []string{"http://" + g1.Addr().String() + "/orders/1", "http://" + g2.Addr().String() + "/orders/1"}
	newAlice(t, g1.Auth())
	key, first := apiKeyToken(t, g1, "alice")
	_, second := apiKeyToken(t, g2, "alice")
	right := "ApiKey " + key + ":" + second
	wrong := "ApiKey " + key + ":" + first // generating a new token invalidated it
	for _, u := range urls {
		if code, _, body := do(t, "GET", u, right); code != 200 || !strings.Contains(body, `"X-Keygate-User": "alice"`) {
			t.Fatalf("newest token: %d %s", code, body)
		}
	}
	if code, _, _ := do(t, "GET", urls[0], "ApiKey "+key+":kgt_"+strings.Repeat("A", 49)); code != 401 {
		t.Fatalf("token with a bad checksum: %d, want 401", code) // refused before the store, not counted
	}

	// Three wrong tokens, at once, across both instances.
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, h, body := do(t, "GET", urls[i%2], wrong); code != 401 || !strings.Contains(h.Get("Www-Authenticate"), `error="invalid_token"`) {
				t.Errorf("wrong token: %d %q %s", code, h.Get("Www-Authenticate"), body)
			}
		}()
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond) // strikes are recorded right after the answers
	for i := range 6 {
		if code, _, body := do(t, "GET", urls[i%2], right); code != 401 || !strings.Contains(body, "invalid_token") {
			t.Fatalf("right token after 3 wrong ones, instance %d: %d %s; want 401 (voided)", i%2+1, code, body)
		}
	}

	// Revocation: a named key deleted through instance 1 is refused by
	// instance 2 within a second.
	kt := namedKey(t, g1, "alice", "ci")
	if code, _, _ := do(t, "GET", urls[1], "Bearer "+kt); code != 200 {
		t.Fatalf("named key on instance 2: %d", code)
	}
	if err := g1.Auth().Accounts.DeleteKey(t.Context(), "alice", "ci"); err != nil {
		t.Fatal(err)
	}
	waitCode(t, time.Second, "instance 2 refusing (401) a deleted key", urls[1], "Bearer "+kt, 401)
}

// TestRedisDownFailsClosed stops the real redis-server under a running
// gateway: a credential verified moments ago keeps working (stale_if_error),
// one that needs the store gets 503 with Retry-After (never 401, never
// passed), readiness stays (this replica still serves its cache) and
// reports the store unreachable, and everything recovers when Redis is
// back.
func TestRedisDownFailsClosed(t *testing.T) {
	srv, g, base, warm, cold := warmOnRedis(t)
	health := "http://" + g.HealthAddr().String()

	srv.Stop()
	time.Sleep(150 * time.Millisecond) // past cache_ttl: the store is asked, and fails
	if code, _, body := do(t, "GET", base, "Bearer "+warm); code != 200 {
		t.Errorf("recently verified credential, Redis down: %d %s; want 200 (stale_if_error)", code, body)
	}
	code, h, body := do(t, "GET", base, "Bearer "+cold)
	if code != 503 || h.Get("Retry-After") == "" || !strings.Contains(body, "temporarily_unavailable") {
		t.Errorf("uncached credential, Redis down: %d Retry-After=%q %s; want 503 with Retry-After", code, h.Get("Retry-After"), body)
	}
	if code, _, _ := do(t, "GET", base, ""); code != 401 {
		t.Errorf("no credential, Redis down: %d; want 401 (nothing to verify)", code)
	}
	waitReadyz(t, health, 200, "ready\nstore: unreachable\n")
	if _, _, metrics := do(t, "GET", health+"/metrics", ""); !strings.Contains(metrics, "keygate_auth_degraded 1") || !strings.Contains(metrics, `keygate_auth_decisions_total{result="store_error"} 1`) {
		t.Errorf("metrics do not show degraded mode:\n%s", grep(metrics, "keygate_auth"))
	}

	srv.Restart() // empty: this Redis keeps nothing on disk
	waitReadyz(t, health, 200, "ready\nstore: ok\n")
	newAlice(t, g.Auth())
	fresh, _, err := g.Auth().Accounts.CreateKey(context.Background(), "alice", authz.KeySpec{Handle: "after"})
	if err != nil {
		t.Fatalf("creating a key after Redis came back: %v", err)
	}
	waitCode(t, 5*time.Second, "after Redis came back, a new key verifying (200) without restarting keygate", base, "Bearer "+fresh, 200)
	if code, _, _ := do(t, "GET", base, "Bearer "+cold); code != 401 {
		t.Errorf("credential lost with Redis's data: %d; want 401 once the store answers again", code)
	}
}

func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
