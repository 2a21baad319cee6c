package redis_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/redis"
	"github.com/keygate/keygate/store/storetest"
)

// cfg is a client configuration for addr with a prefix of the test's own.
func cfg(t *testing.T, addr string) config.Redis {
	return config.Redis{
		Addrs:        []string{addr},
		KeyPrefix:    redistest.Prefix(t),
		DialTimeout:  time.Second,
		ReadTimeout:  config.DefaultRedisReadTimeout,
		WriteTimeout: config.DefaultRedisWriteTimeout,
	}
}

func newStore(t *testing.T, c config.Redis) *redis.Store {
	t.Helper()
	s, err := redis.New(t.Context(), c, nil, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// observedStore opens a Store on c whose log lines at level and above are
// observed and whose metrics are on reg (nil: none), and closes it when the
// test ends.
func observedStore(t *testing.T, c config.Redis, level zapcore.Level, reg prometheus.Registerer) (*redis.Store, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(level)
	s, err := redis.New(t.Context(), c, zap.New(core), reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, logs
}

// setup is a Redis deployment the suite runs against: its addresses and
// mode (as store.redis configures them), and how to start another one of
// the same kind that the Restart test may restart.
type setup struct {
	addrs      []string
	masterName string // Sentinel mode
	cluster    bool
	// restartable starts a private setup of this kind and returns it
	// with a function that restarts it (or fails it over) and returns
	// once it answers again.
	restartable func(t *testing.T) (setup, func())
}

// config is a client configuration for the setup with a prefix of the
// test's own.
func (su setup) config(t *testing.T) config.Redis {
	c := cfg(t, su.addrs[0])
	c.Addrs, c.MasterName, c.Cluster = su.addrs, su.masterName, su.cluster
	return c
}

// harness runs the suite against the setup; restartable stores get a
// private setup each.
func harness(su setup) storetest.Harness {
	var configs sync.Map // store.Store → config.Redis
	open := func(t *testing.T, c config.Redis) store.Store {
		s := newStore(t, c)
		configs.Store(s, c)
		return s
	}
	configOf := func(s store.Store) config.Redis {
		c, _ := configs.Load(s)
		return c.(config.Redis)
	}
	return storetest.Harness{
		New:     func(t *testing.T) store.Store { return open(t, su.config(t)) },
		Replica: func(t *testing.T, s store.Store) store.Store { return open(t, configOf(s)) },
		Reopen: func(t *testing.T, s store.Store) store.Store {
			c := configOf(s)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t, c)
		},
		CountersSurviveReopen: true,
		Restartable: func(t *testing.T) (store.Store, func()) {
			own, restart := su.restartable(t)
			return open(t, own.config(t)), restart
		},
	}
}

// single is one private redis-server (or KEYGATE_TEST_REDIS_ADDR's).
func single(t *testing.T) setup {
	return setup{addrs: []string{redistest.Addr(t)}, restartable: func(t *testing.T) (setup, func()) {
		srv := redistest.Start(t)
		return setup{addrs: []string{srv.Addr()}}, srv.Restart
	}}
}

// cluster is a private three-master Redis Cluster; restarting it restarts
// every node.
func cluster(t *testing.T) setup {
	c := redistest.StartCluster(t, 3)
	return setup{addrs: c.Addrs(), cluster: true, restartable: func(t *testing.T) (setup, func()) {
		own := redistest.StartCluster(t, 3)
		return setup{addrs: own.Addrs(), cluster: true}, own.Restart
	}}
}

// sentinel is a private Sentinel setup (master, replica, three
// sentinels); its "restart" kills the master and waits for the sentinels
// to promote the replica.
func sentinel(t *testing.T) setup {
	s := redistest.StartSentinel(t)
	return setup{addrs: s.Addrs(), masterName: s.MasterName, restartable: func(t *testing.T) (setup, func()) {
		own := redistest.StartSentinel(t)
		return setup{addrs: own.Addrs(), masterName: own.MasterName}, func() {
			own.Master.Kill()
			own.WaitFailover(t, 20*time.Second)
		}
	}}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, harness(single(t)))
}

// TestConformanceCluster runs the suite through a Cluster client against a
// three-master cluster, where every node refuses a command or script
// whose keys are in different slots, and a pipeline spans several nodes.
func TestConformanceCluster(t *testing.T) {
	storetest.Run(t, harness(cluster(t)))
}

// TestConformanceSentinel runs the suite through a Sentinel (failover)
// client; its Restart test is a failover: the master is killed and the
// store must carry on with the promoted replica, subscriptions included.
func TestConformanceSentinel(t *testing.T) {
	storetest.Run(t, harness(sentinel(t)))
}

func TestKeyPrefixIsolation(t *testing.T) {
	addr := redistest.Addr(t)
	a, b := newStore(t, cfg(t, addr)), newStore(t, cfg(t, addr))
	defer a.Close()
	defer b.Close()
	ctx := t.Context()
	sub, err := b.Subscribe(ctx, "events")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Put(ctx, "k", []byte("a"), store.WriteOptions{Indexes: []string{"idx"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Incr(ctx, "k", 5, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Strike(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(ctx, "events", []byte("from a")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get under another prefix: got %v, want ErrNotFound", err)
	}
	if rs, err := b.List(ctx, "idx"); err != nil || len(rs) != 0 {
		t.Errorf("List under another prefix: got (%v, %v), want none", rs, err)
	}
	if n, err := b.Counter(ctx, "k"); err != nil || n != 0 {
		t.Errorf("Counter under another prefix: got (%d, %v), want 0", n, err)
	}
	if st, err := b.Strikes(ctx, "k"); err != nil || st != (store.Strikes{}) {
		t.Errorf("Strikes under another prefix: got (%+v, %v), want zero", st, err)
	}
	if err := b.Publish(ctx, "events", []byte("from b")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-sub:
		if string(m.Payload) != "from b" {
			t.Errorf("subscriber under prefix b: got %q first, want %q", m.Payload, "from b")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscriber under prefix b: no message")
	}
}

func TestKeyLayout(t *testing.T) {
	c := cfg(t, redistest.Addr(t))
	s := newStore(t, c)
	defer s.Close()
	ctx := t.Context()
	raw := s.Client()
	p := c.KeyPrefix
	if _, err := s.Put(ctx, "user/alice", []byte("A"), store.WriteOptions{TTL: time.Hour, Indexes: []string{"all"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Incr(ctx, "hits", 2, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Strike(ctx, "tok", 5); err != nil {
		t.Fatal(err)
	}
	rec, err := raw.HGetAll(ctx, p+"r:{user/alice}").Result()
	if err != nil || rec["v"] != "A" || rec["n"] != "1" || rec["x"] != "all" {
		t.Errorf("record hash: got (%v, %v), want v=A n=1 x=all", rec, err)
	}
	for key, wantTTL := range map[string]bool{
		p + "r:{user/alice}": true, p + "i:{all}": true, p + "c:{hits}": true, p + "s:{tok}": false,
	} {
		t.Run(key, func(t *testing.T) {
			ttl, err := raw.PTTL(ctx, key).Result()
			if err != nil || (ttl > 0) != wantTTL || ttl == -2*time.Nanosecond {
				t.Errorf("PTTL %s: got (%v, %v), want expiry %v", key, ttl, err, wantTTL)
			}
		})
	}
	if n, err := raw.Exists(ctx, p+"c:{hits}", p+"s:{tok}", p+"i:{all}").Result(); err != nil || n != 3 {
		t.Errorf("Exists counter, strikes, index: got (%d, %v), want 3", n, err)
	}
}

func TestListDropsStaleMembers(t *testing.T) {
	c := cfg(t, redistest.Addr(t))
	s := newStore(t, c)
	defer s.Close()
	ctx := t.Context()
	idx := c.KeyPrefix + "i:{idx}"
	for _, k := range []string{"a", "b", "c"} {
		if _, err := s.Put(ctx, k, []byte("v"), store.WriteOptions{Indexes: []string{"idx"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "a", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "b", []byte("v"), store.WriteOptions{Indexes: []string{"other"}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Client().HLen(ctx, idx).Result(); n != 3 {
		t.Fatalf("index members before List: got %d, want 3 (removal is List's job)", n)
	}
	rs, err := s.List(ctx, "idx")
	if err != nil || len(rs) != 1 || rs[0].Key != "c" {
		t.Fatalf("List: got (%v, %v), want [c]", rs, err)
	}
	if n, _ := s.Client().HLen(ctx, idx).Result(); n != 1 {
		t.Fatalf("index members after List: got %d, want 1", n)
	}
}

func TestUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	reg := prometheus.NewRegistry()
	c := cfg(t, srv.Addr())
	c.ReadTimeout, c.WriteTimeout = 100*time.Millisecond, 100*time.Millisecond
	s, err := redis.New(t.Context(), c, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	if _, err := s.Put(ctx, "k", []byte("v"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	start := time.Now()
	_, err = s.Get(ctx, "k")
	if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get with Redis stopped: got %v, want ErrUnavailable and not ErrNotFound", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Get with Redis stopped took %s, want at most the call timeout of 200ms", took)
	}
	checks := map[string]error{
		"incr":    func() error { _, err := s.Incr(ctx, "k", 1, 0); return err }(),
		"strike":  func() error { _, _, err := s.Strike(ctx, "k", 3); return err }(),
		"list":    func() error { _, err := s.List(ctx, "idx"); return err }(),
		"publish": s.Publish(ctx, "c", nil),
		"ping":    s.Ping(ctx),
	}
	for op, err := range checks {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with Redis stopped: got %v, want ErrUnavailable", op, err)
		}
	}
	want := `
# HELP keygate_store_errors_total Store calls that failed because Redis was unavailable, by operation.
# TYPE keygate_store_errors_total counter
keygate_store_errors_total{op="clear_strikes"} 0
keygate_store_errors_total{op="counter"} 0
keygate_store_errors_total{op="create"} 0
keygate_store_errors_total{op="delete"} 0
keygate_store_errors_total{op="get"} 1
keygate_store_errors_total{op="incr"} 1
keygate_store_errors_total{op="list"} 1
keygate_store_errors_total{op="ping"} 1
keygate_store_errors_total{op="publish"} 1
keygate_store_errors_total{op="put"} 0
keygate_store_errors_total{op="reset_counter"} 0
keygate_store_errors_total{op="reset_strikes"} 0
keygate_store_errors_total{op="strike"} 1
keygate_store_errors_total{op="strikes"} 0
keygate_store_errors_total{op="subscribe"} 0
keygate_store_errors_total{op="update"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "keygate_store_errors_total"); err != nil {
		t.Error(err)
	}

	// Back again: the same Store recovers.
	srv.Restart()
	testkit.Eventually(t, 5*time.Second, "Get after Redis came back = ErrNotFound", func() bool {
		_, err := s.Get(ctx, "k")
		return errors.Is(err, store.ErrNotFound) // the test server keeps nothing
	})
}

func TestNewUnreachable(t *testing.T) {
	srv := redistest.Start(t)
	addr := srv.Addr()
	srv.Stop() // nothing listens there now
	start := time.Now()
	s, err := redis.New(t.Context(), config.Redis{Addrs: []string{addr}, DialTimeout: 200 * time.Millisecond}, nil, nil)
	if err == nil {
		s.Close()
		t.Fatalf("New(%s): no error with nothing listening", addr)
	}
	if !strings.Contains(err.Error(), addr) || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("New(%s): got %q, want an error naming the address and wrapping ErrUnavailable", addr, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("New(%s) took %s", addr, took)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := redis.New(ctx, config.Redis{Addrs: []string{addr}}, nil, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("New with a cancelled context: got %v, want context.Canceled", err)
	}
}

func TestResubscribeReported(t *testing.T) {
	srv := redistest.Start(t)
	reg := prometheus.NewRegistry()
	s, logs := observedStore(t, cfg(t, srv.Addr()), zapcore.WarnLevel, reg)
	sub, err := s.Subscribe(t.Context(), "events")
	if err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	timeout := time.After(10 * time.Second)
	for resynced := false; !resynced; {
		select {
		case m := <-sub:
			switch {
			case m.Down && m.Channel == "events":
				// the loss is reported first (subscription.go)
			case !m.Resync || m.Channel != "events":
				t.Fatalf("message after a restart: got %+v, want Down, then a Resync on events", m)
			default:
				resynced = true
			}
		case <-timeout:
			t.Fatal("no Resync within 10s of the restart")
		}
	}
	want := `
# HELP keygate_store_pubsub_resubscribes_total Redis pub/sub subscriptions re-established after a lost connection.
# TYPE keygate_store_pubsub_resubscribes_total counter
keygate_store_pubsub_resubscribes_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "keygate_store_pubsub_resubscribes_total"); err != nil {
		t.Error(err)
	}
	if n := logs.FilterMessage("store subscription lost").FilterField(zap.String("channel", "events")).Len(); n != 1 {
		t.Errorf("warn log lines %q: got %d, want 1", "store subscription lost", n)
	}
}

func TestMetricsSharedByStores(t *testing.T) {
	addr := redistest.Addr(t)
	reg := prometheus.NewRegistry()
	for range 2 {
		s, err := redis.New(t.Context(), cfg(t, addr), nil, reg)
		if err != nil {
			t.Fatalf("New with a registry already holding the store's metrics: %v", err)
		}
		s.Close()
	}
}
