package redis_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/redis"
)

// next returns the next message on sub, failing the test if none arrives
// within 15 s (what names the wait).
func next(t *testing.T, sub <-chan store.Message, what string) store.Message {
	t.Helper()
	select {
	case m, ok := <-sub:
		if !ok {
			t.Fatalf("%s: subscription closed", what)
		}
		return m
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: no message within 15s", what)
	}
	return store.Message{}
}

// subscriptionUp reads keygate_store_subscription_up{channel="events"}.
func subscriptionUp(reg *prometheus.Registry) float64 {
	return metricValue(reg, "keygate_store_subscription_up", "events")
}

// metricValue reads the value of the metric name whose one label has the value
// label (a gauge or a counter); -1 if there is none.
func metricValue(reg *prometheus.Registry, name, label string) float64 {
	v, ok := metric(reg, name, label)
	if !ok {
		return -1
	}
	return v
}

// metric reads the value of the gauge or counter name whose label values
// are labels (none: the metric has no labels), and whether there is one.
func metric(reg *prometheus.Registry, name string, labels ...string) (float64, bool) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, false
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			values := make([]string, 0, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				values = append(values, l.GetValue())
			}
			if !slices.Equal(values, labels) {
				continue
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue(), true
			}
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// healing subscribes to "events" on a private redis-server as user kg
// (with every permission), and returns the subscription with what the
// test needs to break it and check that it heals: an admin client, a
// publisher, the registry and the logs.
func healing(t *testing.T) (sub <-chan store.Message, admin *goredis.Client, pub *redis.Store, reg *prometheus.Registry, logs *observer.ObservedLogs) {
	srv := redistest.Start(t)
	admin = goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = admin.Close() })
	ctx := t.Context()
	if err := admin.Do(ctx, "ACL", "SETUSER", "kg", "on", ">kg-password", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	c := cfg(t, srv.Addr())
	pub = newStore(t, c) // the default user
	t.Cleanup(func() { _ = pub.Close() })
	c.Username, c.Password = "kg", "kg-password"
	reg = prometheus.NewRegistry()
	var s *redis.Store
	s, logs = observedStore(t, c, zapcore.InfoLevel, reg)
	var err error
	if sub, err = s.Subscribe(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	if got := subscriptionUp(reg); got != 1 {
		t.Fatalf("keygate_store_subscription_up after Subscribe = %v, want 1", got)
	}
	return sub, admin, pub, reg, logs
}

// healed checks that a lost subscription told the subscriber (Down), was
// logged and shown by the gauge, and, once heal has removed the cause,
// came back with a Resync and delivers messages again.
func healed(t *testing.T, sub <-chan store.Message, pub *redis.Store, reg *prometheus.Registry, logs *observer.ObservedLogs, heal func()) {
	t.Helper()
	if m := next(t, sub, "after the loss"); !m.Down {
		t.Fatalf("first message after the loss = %+v, want Down", m)
	}
	if got := subscriptionUp(reg); got != 0 {
		t.Errorf("keygate_store_subscription_up while lost = %v, want 0", got)
	}
	if n := logs.FilterMessage("store subscription lost").Len(); n != 1 {
		t.Errorf("%d 'store subscription lost' lines, want 1", n)
	}
	heal()
	if m := next(t, sub, "after healing"); !m.Resync {
		t.Fatalf("first message after healing = %+v, want Resync", m)
	}
	if got := subscriptionUp(reg); got != 1 {
		t.Errorf("keygate_store_subscription_up after healing = %v, want 1", got)
	}
	if n := logs.FilterMessage("store subscription restored").Len(); n != 1 {
		t.Errorf("%d 'store subscription restored' lines, want 1", n)
	}
	if err := pub.Publish(t.Context(), "events", []byte("after")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, sub, "a message after healing"); string(m.Payload) != "after" {
		t.Errorf("message after healing = %+v, want payload %q", m, "after")
	}
	if got, ok := metric(reg, "keygate_store_pubsub_resubscribes_total"); !ok || got != 1 {
		t.Errorf("keygate_store_pubsub_resubscribes_total = %v, want 1", got)
	}
}

// TestSubscriptionHealsAfterACLWithdrawsChannel withdraws the channel
// permission of the subscriber's user: Redis drops its subscription and
// refuses every SUBSCRIBE (NOPERM) until the permission is given back.
// The subscription must be reported lost and come back by itself.
func TestSubscriptionHealsAfterACLWithdrawsChannel(t *testing.T) {
	sub, admin, pub, reg, logs := healing(t)
	ctx := t.Context()
	if err := admin.Do(ctx, "ACL", "SETUSER", "kg", "resetchannels", "&other").Err(); err != nil {
		t.Fatal(err)
	}
	healed(t, sub, pub, reg, logs, func() {
		// Several refused attempts (backoff 100 ms doubling to 1 s) before
		// the permission comes back.
		testkit.Eventually(t, 10*time.Second, "refused SUBSCRIBE attempts", func() bool {
			return metricValue(reg, "keygate_store_errors_total", "subscribe") >= 3
		})
		if err := admin.Do(ctx, "ACL", "SETUSER", "kg", "&*").Err(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSubscriptionHealsAfterClientKill kills the subscriber's connection
// (CLIENT KILL TYPE pubsub): the loss is reported and the subscription
// comes back at once.
func TestSubscriptionHealsAfterClientKill(t *testing.T) {
	sub, admin, pub, reg, logs := healing(t)
	ctx := context.Background()
	if n, err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Int(); err != nil || n != 1 {
		t.Fatalf("CLIENT KILL TYPE pubsub = (%d, %v), want 1 client killed", n, err)
	}
	healed(t, sub, pub, reg, logs, func() {})
}
