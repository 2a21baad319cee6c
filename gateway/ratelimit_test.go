package gateway

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/redistest"
)

func rateLimitedGateway(addr, prefix, upstream string) string {
	return fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
store: {driver: redis, redis: {addrs: [%q], key_prefix: %q, dial_timeout: 1s, read_timeout: 200ms, write_timeout: 200ms}}
routes:
  - {name: local, path_prefix: /local, upstream: %[3]s, auth: none, rate_limit: {rate: 1, per: 1m, burst: 2, mode: exact}}
  - {name: open, path_prefix: /open, upstream: %[3]s, auth: none, rate_limit: {rate: 1, per: 1m, burst: 2, mode: exact, on_store_error: fail_open}}
  - {name: closed, path_prefix: /closed, upstream: %[3]s, auth: none, rate_limit: {rate: 1, per: 1m, burst: 2, mode: exact, on_store_error: fail_closed}}
  - {name: fastleased, path_prefix: /fastleased, upstream: %[3]s, auth: none, rate_limit: {rate: 1, per: 1m, burst: 8, batch: 8}}
  - {name: fastlocal, path_prefix: /fastlocal, upstream: %[3]s, auth: none, rate_limit: {rate: 1, per: 1m, burst: 2}}
  - {name: fastopen, path_prefix: /fastopen, upstream: %[3]s, auth: none, rate_limit: {rate: 1, per: 1m, burst: 2, on_store_error: fail_open}}
  - {name: fastclosed, path_prefix: /fastclosed, upstream: %[3]s, auth: none, rate_limit: {rate: 1, per: 1m, burst: 2, on_store_error: fail_closed}}
`, addr, prefix, upstream)
}

// sharedBurstOfTwo asks path on gateway u1, u2, u1, u2 (base URLs) with
// no credential, where path has a limit of burst 2 shared by both: the
// first two are allowed and the others refused (429).
func sharedBurstOfTwo(t *testing.T, what, u1, u2, path string) {
	t.Helper()
	for i, c := range []struct {
		url  string
		want int
	}{{u1, 200}, {u2, 200}, {u1, 429}, {u2, 429}} {
		if code, _, _ := do(t, "GET", c.url+path, ""); code != c.want {
			t.Errorf("%s, request %d: %d, want %d", what, i+1, code, c.want)
		}
	}
}

// TestRateLimitSharedAndDegraded: two gateways on one real Redis share a
// limit exactly; with Redis stopped each route follows its on_store_error
// policy, and the degradation shows in a metric.
func TestRateLimitSharedAndDegraded(t *testing.T) {
	srv := redistest.Start(t)
	up := echoUpstream(t)
	y := rateLimitedGateway(srv.Addr(), redistest.Prefix(t), up.URL)
	g1, _ := start(t, parse(t, y))
	g2, _ := start(t, parse(t, y))
	u1, u2 := "http://"+g1.Addr().String(), "http://"+g2.Addr().String()

	// Shared: burst 2 across both instances.
	sharedBurstOfTwo(t, "shared limit", u1, u2, "/local")

	// Fast mode: g1 leases 8 (the whole burst) and spends one; g2 is
	// refused while g1 holds the rest.
	if code, _, _ := do(t, "GET", u1+"/fastleased", ""); code != 200 {
		t.Errorf("fast, first request: %d, want 200", code)
	}
	if code, _, _ := do(t, "GET", u2+"/fastleased", ""); code != 429 {
		t.Errorf("fast, the other instance while the first holds the burst: %d, want 429", code)
	}

	srv.Stop()
	// fast, budget leased before Redis stopped: spent as usual.
	expectCodes(t, "Redis down, fast mode, leased", u1+"/fastleased", 200, 200, 200)
	// fast, nothing leased: the same policies as exact mode.
	expectCodes(t, "Redis down, fast mode, local policy", u1+"/fastlocal", 200, 200, 429)
	expectCodes(t, "Redis down, fast mode, fail_open", u1+"/fastopen", 200, 200, 200)
	expectRetry(t, "Redis down, fast mode, fail_closed", u1+"/fastclosed")
	// local: each instance limits on its own (a fresh bucket of 2 here).
	expectCodes(t, "Redis down, local policy", u1+"/local", 200, 200, 429)
	expectCodes(t, "Redis down, fail_open", u1+"/open", 200, 200, 200)
	expectRetry(t, "Redis down, fail_closed", u1+"/closed")
	_, _, metrics := do(t, "GET", "http://"+g1.HealthAddr().String()+"/metrics", "")
	for _, want := range []string{
		"keygate_ratelimit_degraded 1",
		`keygate_ratelimit_decisions_total{result="degraded",route="local"} 2`,
		`keygate_ratelimit_decisions_total{result="fail_closed",route="closed"} 1`,
		`keygate_ratelimit_decisions_total{result="allowed",route="fastleased"} 4`,
		`keygate_ratelimit_decisions_total{result="degraded",route="fastlocal"} 2`,
		`keygate_ratelimit_decisions_total{result="fail_open",route="fastopen"} 3`,
		`keygate_ratelimit_decisions_total{result="fail_closed",route="fastclosed"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, grep(metrics, "keygate_ratelimit"))
		}
	}
}

// TestQuotaRedisDown: with Redis stopped, a quota that cannot be counted
// answers 503 (fail_closed, the default) or lets the request through
// (fail_open); a recently verified credential is still known (stale_if_error).
func TestQuotaRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	up := echoUpstream(t)
	y := fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
store: {driver: redis, redis: {addrs: [%q], key_prefix: %q, dial_timeout: 1s, read_timeout: 200ms, write_timeout: 200ms}}
auth:
  digest_keys: [{id: t1, secret: "a-test-digest-key-of-at-least-32-bytes"}]
  stale_if_error: 1m
routes:
  - {name: closed, path_prefix: /closed, upstream: %[3]s, api_set: orders, quota: {requests: 100, per: month}}
  - {name: open, path_prefix: /open, upstream: %[3]s, api_set: orders, quota: {requests: 100, on_store_error: fail_open}}
`, srv.Addr(), redistest.Prefix(t), up.URL)
	g, _ := start(t, parse(t, y))
	base := "http://" + g.Addr().String()
	newAlice(t, g.Auth())
	tok := namedKey(t, g, "alice", "k")
	for _, p := range []string{"/closed", "/open"} {
		if code, _, body := do(t, "GET", base+p, "Bearer "+tok); code != 200 {
			t.Fatalf("%s with Redis up: %d %s", p, code, body)
		}
	}
	srv.Stop()
	if code, h, body := do(t, "GET", base+"/closed", "Bearer "+tok); code != 503 || h.Get("Retry-After") == "" {
		t.Errorf("quota, Redis down, fail_closed: %d %s, want 503 with Retry-After", code, body)
	}
	if code, _, body := do(t, "GET", base+"/open", "Bearer "+tok); code != 200 {
		t.Errorf("quota, Redis down, fail_open: %d %s, want 200", code, body)
	}
}

// TestKeyFailureLimit: wrong tokens for one ApiKey key void its token at
// lockout_threshold as always; past auth.key_failure_limit the key gets
// 429 before its token is compared — the right one too — while other
// keys are unaffected.
func TestKeyFailureLimit(t *testing.T) {
	_, g, url := aliceOnRedis(t, "  lockout_threshold: 3\n  failure_limit: {rate: -1}\n  key_failure_limit: {rate: 1, per: 1m, burst: 5}")
	if _, err := g.Auth().Accounts.CreateUser(t.Context(), authz.User{Name: "bob", APISets: []string{"orders"}, Scopes: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	key, old := apiKeyToken(t, g, "alice")
	_, right := apiKeyToken(t, g, "alice")
	bobKey, bobToken := apiKeyToken(t, g, "bob")
	wrong := "ApiKey " + key + ":" + old
	// A burst of 5 failures is forgiven; the 6th is answered 401 and
	// blocks the key.
	for i := range 6 {
		if code, _, body := do(t, "GET", url, wrong); code != 401 {
			t.Fatalf("wrong token %d: %d %s, want 401", i+1, code, body)
		}
	}
	code, h, body := do(t, "GET", url, wrong)
	if ra, _ := strconv.Atoi(h.Get("Retry-After")); code != 429 || !strings.Contains(body, "too_many_requests") || ra < 1 || ra > 60 {
		t.Errorf("wrong token 7: %d (Retry-After %q) %s, want 429 with Retry-After", code, h.Get("Retry-After"), body)
	}
	if code, _, _ := do(t, "GET", url, "ApiKey "+key+":"+right); code != 429 {
		t.Errorf("the right token of a blocked key: %d, want 429", code)
	}
	// The void came first (strikes are recorded after the answer, so one
	// more may be counted before this replica sees the trip).
	if st, failures, err := g.Auth().Accounts.APIKeyStatus(t.Context(), "alice"); err != nil || st != authz.StatusVoided || failures < 3 {
		t.Errorf("after the flood: %s with %d failures (%v), want voided", st, failures, err)
	}
	if code, _, _ := do(t, "GET", url, "ApiKey "+bobKey+":"+bobToken); code != 200 {
		t.Errorf("another key during the flood: %d, want 200", code)
	}
	_, _, metrics := do(t, "GET", "http://"+g.HealthAddr().String()+"/metrics", "")
	if !strings.Contains(metrics, `keygate_auth_decisions_total{result="key_blocked"} 2`) {
		t.Errorf("metrics lack the blocked decision:\n%s", grep(metrics, "keygate_auth_decisions"))
	}
}

// TestLockoutNeverFailsOpen: with Redis down, a wrong ApiKey token cannot
// be recorded, so the key's right token is not let through on the
// strength of the cache (stale_if_error) either: 503 until the store
// answers, never a way around the void.
func TestLockoutNeverFailsOpen(t *testing.T) {
	srv, g, url := aliceOnRedis(t, "  lockout_threshold: 3\n  stale_if_error: 1m")
	key, old := apiKeyToken(t, g, "alice")
	_, right := apiKeyToken(t, g, "alice")
	if code, _, _ := do(t, "GET", url, "ApiKey "+key+":"+right); code != 200 {
		t.Fatalf("right token with Redis up: %d", code)
	}
	srv.Stop()
	if code, _, _ := do(t, "GET", url, "ApiKey "+key+":"+old); code != 401 {
		t.Errorf("wrong token with Redis down: %d, want 401", code)
	}
	if code, _, body := do(t, "GET", url, "ApiKey "+key+":"+right); code != 503 {
		t.Errorf("right token after a wrong one that could not be recorded: %d %s, want 503", code, body)
	}
}

// expectCodes sends one GET to url per code in want and checks the
// status of each answer.
func expectCodes(t *testing.T, what, url string, want ...int) {
	t.Helper()
	for i, w := range want {
		if code, _, _ := do(t, "GET", url, ""); code != w {
			t.Errorf("%s, request %d: %d, want %d", what, i+1, code, w)
		}
	}
}

// expectRetry checks that a GET of url is answered 503 with Retry-After.
func expectRetry(t *testing.T, what, url string) {
	t.Helper()
	if code, h, _ := do(t, "GET", url, ""); code != 503 || h.Get("Retry-After") == "" {
		t.Errorf("%s: %d (Retry-After %q), want 503 with Retry-After", what, code, h.Get("Retry-After"))
	}
}
