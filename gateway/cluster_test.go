package gateway

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/redistest"
)

// TestClusterTwoInstances runs two keygate gateways on a real three-master
// Redis Cluster: a key made on one verifies on the other, a wrong ApiKey
// token voids the key's token across both, a rate limit is shared, and a
// revocation on one reaches the other through pub/sub (cache_ttl is a
// minute, so expiry cannot explain it).
func TestClusterTwoInstances(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	up := echoUpstream(t)
	addrs := make([]string, len(c.Nodes))
	for i, a := range c.Addrs() {
		addrs[i] = strconv.Quote(a)
	}
	y := fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
store: {driver: redis, redis: {cluster: true, addrs: [%s], key_prefix: %q, dial_timeout: 1s}}
auth:
  digest_keys: [{id: t1, secret: "a-test-digest-key-of-at-least-32-bytes"}]
  cache_ttl: 1m
  lockout_threshold: 1
routes:
  - {name: orders, path_prefix: /orders, upstream: %[3]s, api_set: orders}
  - {name: limited, path_prefix: /limited, upstream: %[3]s, auth: none, rate_limit: {rate: 1, per: 1m, burst: 2, mode: exact, on_store_error: fail_closed}}
`, strings.Join(addrs, ", "), redistest.Prefix(t), up.URL)
	g1, _ := start(t, parse(t, y))
	g2, _ := start(t, parse(t, y))
	u1, u2 := "http://"+g1.Addr().String(), "http://"+g2.Addr().String()
	ctx := t.Context()
	newAlice(t, g1.Auth())

	kt := namedKey(t, g1, "alice", "ci")
	if code, _, body := do(t, "GET", u2+"/orders/1", "Bearer "+kt); code != 200 || !strings.Contains(body, `"X-Keygate-User": "alice"`) {
		t.Fatalf("key made on gateway 1, on gateway 2: %d %s", code, body)
	}

	key, tok := apiKeyToken(t, g2, "alice")
	if code, _, _ := do(t, "GET", u1+"/orders/1", "ApiKey "+key+":"+authz.NewToken(authz.KindAPIKey)); code != 401 {
		t.Fatalf("wrong ApiKey token: %d, want 401", code)
	}
	// The strike is recorded right after the answer.
	waitCode(t, 5*time.Second, "right ApiKey token on gateway 2 after a wrong one on gateway 1 (threshold 1) refused (401, voided)", u2+"/orders/1", "ApiKey "+key+":"+tok, 401)

	sharedBurstOfTwo(t, "shared rate limit", u1, u2, "/limited")

	if err := g1.Auth().Accounts.DeleteKey(ctx, "alice", "ci"); err != nil {
		t.Fatal(err)
	}
	waitCode(t, 5*time.Second, "gateway 2 refusing (401) a key deleted on gateway 1", u2+"/orders/1", "Bearer "+kt, 401)
}
