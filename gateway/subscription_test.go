package gateway

import (
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testkit"
)

// gaugeValue reads the gateway's metric name with the label value label
// (-1 if absent).
func gaugeValue(t *testing.T, g *Gateway, name, label string) float64 {
	t.Helper()
	mfs, err := g.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() == label {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

// TestRevocationWhileSubscriptionLost runs two gateways on one real
// redis-server with cache_ttl 30s; the second connects as a user whose
// channel permission an ACL change withdraws, which drops its
// subscription to invalidations and refuses it again until the permission
// is back. A named key verified on the second gateway and then deleted
// through the first must be refused by the second well within cache_ttl in
// every state: healthy (the invalidation arrives), lost (the cache's
// effective TTL is a tenth of cache_ttl) and healed (the subscription came
// back by itself). The delays are logged as figures.
func TestRevocationWhileSubscriptionLost(t *testing.T) {
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = admin.Close() })
	ctx := t.Context()
	if err := admin.Do(ctx, "ACL", "SETUSER", "kg", "on", ">kg-password", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	up := echoUpstream(t)
	prefix := redistest.Prefix(t)
	const cacheTTL = 30 * time.Second
	y := func(user string) string {
		return fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
store: {driver: redis, redis: {addrs: [%q], key_prefix: %q, dial_timeout: 1s%s}}
auth:
  digest_keys: [{id: t1, secret: "a-test-digest-key-of-at-least-32-bytes"}]
  cache_ttl: %s
routes:
  - {name: orders, path_prefix: /orders, upstream: %s, api_set: orders}
`, srv.Addr(), prefix, user, cacheTTL, up.URL)
	}
	a, _ := start(t, parse(t, y("")))
	b, _ := start(t, parse(t, y(", username: kg, password: kg-password")))
	newAlice(t, a.Auth())
	urlB := "http://" + b.Addr().String() + "/orders/1"
	const bound = cacheTTL / 2 // generous, and well under cache_ttl

	revocationDelay := func(state string) time.Duration {
		t.Helper()
		tok := namedKey(t, a, "alice", state)
		if code, _, body := do(t, "GET", urlB, "Bearer "+tok); code != 200 {
			t.Fatalf("%s: new key on the second gateway: %d %s", state, code, body)
		}
		if err := a.Auth().Accounts.DeleteKey(ctx, "alice", state); err != nil {
			t.Fatal(err)
		}
		deleted := time.Now()
		waitCode(t, bound, state+": second gateway refusing (401) a key deleted on the first", urlB, "Bearer "+tok, 401)
		d := time.Since(deleted)
		t.Logf("revocation delay, subscription %s: %s", state, d.Round(time.Millisecond))
		return d
	}
	upGauge := func() float64 { return gaugeValue(t, b, "keygate_store_subscription_up", "authz") }

	revocationDelay("healthy")

	if err := admin.Do(ctx, "ACL", "SETUSER", "kg", "resetchannels", "&other").Err(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "keygate_store_subscription_up 0 after the ACL change", func() bool { return upGauge() == 0 })
	revocationDelay("lost")

	if err := admin.Do(ctx, "ACL", "SETUSER", "kg", "&*").Err(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "keygate_store_subscription_up 1 after the permission is back", func() bool { return upGauge() == 1 })
	revocationDelay("healed")
}
