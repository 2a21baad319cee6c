package redis_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/store/redis"
)

const (
	evictsMsg     = "redis may evict keygate's keys: revocations, lockout counters and credentials can be lost silently; set maxmemory-policy noeviction"
	unreadableMsg = "could not read the redis eviction policy (maxmemory-policy must be noeviction, or revocations and lockout counters can be lost silently)"
	evictionGauge = "keygate_store_redis_eviction_possible"
)

// hidden are the arguments of a redis-server whose user keygate may run
// neither INFO nor CONFIG, as on a managed service that hides the policy.
var hidden = []string{"--user", "keygate", "on", ">secret", "~*", "&*", "+@all", "-info", "-config"}

// gauge is the value of keygate_store_redis_eviction_possible in reg.
func gauge(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	v, ok := metric(reg, evictionGauge)
	if !ok {
		t.Fatalf("%s not registered", evictionGauge)
	}
	return v
}

// observed is a store on c whose logs at level and above are kept in logs
// and whose metrics are on reg; every is how often it checks the eviction
// policy (0: every minute, as New).
func observed(t *testing.T, c config.Redis, level zapcore.Level, every time.Duration) (*redis.Store, *prometheus.Registry, *observer.ObservedLogs) {
	t.Helper()
	reg := prometheus.NewRegistry()
	core, logs := observer.New(level)
	var s *redis.Store
	var err error
	if every == 0 {
		s, err = redis.New(t.Context(), c, zap.New(core), reg)
	} else {
		s, err = redis.NewCheckingEvery(t.Context(), c, zap.New(core), reg, every)
	}
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, reg, logs
}

// waitGauge waits until the gauge is want.
func waitGauge(t *testing.T, reg *prometheus.Registry, want float64) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, fmt.Sprintf("%s = %v", evictionGauge, want), func() bool {
		return gauge(t, reg) == want
	})
}

// waitChecks waits until the server at addr has been sent n more INFO
// commands (answered or refused) than before the call, not counting the
// INFO commandstats it is asked with: n more policy checks.
func waitChecks(t *testing.T, addr string, n int) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	count := func() int {
		stats, err := c.Info(t.Context(), "commandstats").Result()
		if err != nil {
			t.Fatalf("INFO commandstats on %s: %v", addr, err)
		}
		total := 0
		for line := range strings.Lines(stats) {
			v, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_info:")
			if !ok {
				continue
			}
			for kv := range strings.SplitSeq(v, ",") {
				if k, num, _ := strings.Cut(kv, "="); k == "calls" || k == "rejected_calls" {
					i, _ := strconv.Atoi(num)
					total += i
				}
			}
		}
		return total
	}
	base, polls := count(), 1
	testkit.Eventually(t, 10*time.Second, fmt.Sprintf("%d policy checks on %s", n, addr), func() bool {
		if count()-polls-base >= n {
			return true
		}
		polls++
		return false
	})
}

// configSet sets the server's maxmemory-policy as an operator would.
func configSet(t *testing.T, addr, policy string) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	if err := c.ConfigSet(t.Context(), "maxmemory-policy", policy).Err(); err != nil {
		t.Fatalf("CONFIG SET maxmemory-policy %s on %s: %v", policy, addr, err)
	}
}

func TestEvictionPolicyAtStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		user bool // connect as the user of hidden
		// gauge, and the warning logged (message, policy field) or none.
		gauge      float64
		msg        string
		policy     string
		requireErr []string // New's error with require_noeviction; nil for none
	}{
		{name: "noeviction", args: []string{"--maxmemory-policy", "noeviction"}, gauge: 0},
		{name: "allkeys-lru", args: []string{"--maxmemory-policy", "allkeys-lru"}, gauge: 1, msg: evictsMsg, policy: "allkeys-lru",
			requireErr: []string{"store.redis.require_noeviction", "maxmemory-policy allkeys-lru"}},
		{name: "volatile-lru", args: []string{"--maxmemory-policy", "volatile-lru"}, gauge: 1, msg: evictsMsg, policy: "volatile-lru",
			requireErr: []string{"store.redis.require_noeviction", "maxmemory-policy volatile-lru"}},
		{name: "CONFIG renamed, INFO read", args: []string{"--maxmemory-policy", "allkeys-random", "--rename-command", "CONFIG", ""}, gauge: 1, msg: evictsMsg, policy: "allkeys-random",
			requireErr: []string{"store.redis.require_noeviction", "maxmemory-policy allkeys-random"}},
		{name: "INFO refused, CONFIG read", args: []string{"--maxmemory-policy", "allkeys-lfu", "--user", "keygate", "on", ">secret", "~*", "&*", "+@all", "-info"}, user: true, gauge: 1, msg: evictsMsg, policy: "allkeys-lfu",
			requireErr: []string{"store.redis.require_noeviction", "maxmemory-policy allkeys-lfu"}},
		{name: "hidden", args: hidden, user: true, gauge: -1, msg: unreadableMsg,
			requireErr: []string{"store.redis.require_noeviction", "could not read the maxmemory-policy", "NOPERM"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t, tc.args...)
			c := cfg(t, srv.Addr())
			if tc.user {
				c.Username, c.Password = "keygate", "secret"
			}
			_, reg, logs := observed(t, c, zapcore.WarnLevel, 0)
			if got := gauge(t, reg); got != tc.gauge {
				t.Errorf("%s: got %v, want %v", evictionGauge, got, tc.gauge)
			}
			all := logs.All()
			switch {
			case tc.msg == "":
				if len(all) != 0 {
					t.Errorf("logs: got %v, want none", all)
				}
			case len(all) != 1 || all[0].Message != tc.msg || all[0].Level != zapcore.WarnLevel:
				t.Errorf("logs: got %v, want one warning %q", all, tc.msg)
			default:
				fields := all[0].ContextMap()
				if tc.policy != "" && fields["maxmemory_policy"] != tc.policy {
					t.Errorf("warning's maxmemory_policy: got %v, want %s", fields["maxmemory_policy"], tc.policy)
				}
				if fields["node"] != srv.Addr() {
					t.Errorf("warning's node: got %v, want %s", fields["node"], srv.Addr())
				}
			}

			c.RequireNoeviction = true
			s2, err := redis.New(t.Context(), c, nil, nil)
			if tc.requireErr == nil {
				if err != nil {
					t.Fatalf("New with require_noeviction: %v", err)
				}
				s2.Close()
				return
			}
			if err == nil {
				s2.Close()
				t.Fatalf("New with require_noeviction: got no error, want one saying %q", tc.requireErr)
			}
			for _, want := range tc.requireErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("New with require_noeviction: got %q, want it to say %q", err, want)
				}
			}
		})
	}
}

func TestEvictionPolicyRecheck(t *testing.T) {
	for _, require := range []bool{false, true} {
		level := zapcore.WarnLevel
		if require {
			level = zapcore.ErrorLevel
		}
		t.Run(map[bool]string{false: "warn", true: "require_noeviction"}[require], func(t *testing.T) {
			srv := redistest.Start(t, "--maxmemory-policy", "noeviction")
			c := cfg(t, srv.Addr())
			c.RequireNoeviction = require
			s, reg, logs := observed(t, c, zapcore.InfoLevel, 20*time.Millisecond)
			waitGauge(t, reg, 0)

			configSet(t, srv.Addr(), "allkeys-lru")
			waitGauge(t, reg, 1)
			waitChecks(t, srv.Addr(), 3) // the warning is not repeated
			if got := logs.FilterMessage(evictsMsg).FilterField(zap.String("maxmemory_policy", "allkeys-lru")).All(); len(got) != 1 || got[0].Level != level {
				t.Errorf("logs %q: got %v, want one at %s", evictsMsg, got, level)
			}
			if err := s.Ping(t.Context()); err != nil {
				t.Errorf("Ping of a running store whose Redis can now evict: %v", err)
			}

			configSet(t, srv.Addr(), "noeviction")
			waitGauge(t, reg, 0)
			if n := logs.FilterMessage("redis eviction policy is noeviction").Len(); n != 1 {
				t.Errorf("info logs after noeviction came back: got %d, want 1", n)
			}
			want := `
# HELP keygate_store_redis_eviction_possible 1 when a Redis master's maxmemory-policy can evict keys (anything but noeviction), 0 when every master reports noeviction, -1 when a policy could not be read.
# TYPE keygate_store_redis_eviction_possible gauge
keygate_store_redis_eviction_possible 0
`
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), evictionGauge); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestEvictionPolicyHiddenWarnedOnce: a policy that cannot be read is
// warned about once, not at every check.
func TestEvictionPolicyHiddenWarnedOnce(t *testing.T) {
	srv := redistest.Start(t, hidden...)
	c := cfg(t, srv.Addr())
	c.Username, c.Password = "keygate", "secret"
	_, reg, logs := observed(t, c, zapcore.InfoLevel, 20*time.Millisecond)
	waitChecks(t, srv.Addr(), 3)
	if got := logs.FilterLevelExact(zapcore.WarnLevel).All(); len(got) != 1 || got[0].Message != unreadableMsg {
		t.Errorf("warnings after several checks: got %v, want one %q", got, unreadableMsg)
	}
	if got := gauge(t, reg); got != -1 {
		t.Errorf("%s: got %v, want -1", evictionGauge, got)
	}
}

// TestEvictionPolicyRecheckOnReconnect: a subscription's reconnection
// checks the policy at once, long before the periodic check.
func TestEvictionPolicyRecheckOnReconnect(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory-policy", "noeviction")
	reg := prometheus.NewRegistry()
	s, err := redis.NewCheckingEvery(t.Context(), cfg(t, srv.Addr()), nil, reg, time.Hour)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer s.Close()
	sub, err := s.Subscribe(t.Context(), "events")
	if err != nil {
		t.Fatal(err)
	}
	configSet(t, srv.Addr(), "allkeys-lru")
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	if err := admin.ClientKillByFilter(t.Context(), "TYPE", "pubsub").Err(); err != nil {
		t.Fatalf("CLIENT KILL TYPE pubsub: %v", err)
	}
	for resync := false; !resync; {
		select {
		case m := <-sub:
			if !m.Resync && !m.Down {
				t.Fatalf("message after the kill: got %+v, want Down then Resync", m)
			}
			resync = m.Resync
		case <-time.After(10 * time.Second):
			t.Fatal("no Resync within 10s of the kill")
		}
	}
	waitGauge(t, reg, 1)
}

// TestEvictionPolicyCluster: every master of a Cluster is read, and the
// one that can evict is named.
func TestEvictionPolicyCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	configSet(t, cl.Nodes[1].Addr(), "volatile-ttl")
	c := cfg(t, cl.Nodes[0].Addr())
	c.Addrs, c.Cluster = cl.Addrs(), true
	_, reg, logs := observed(t, c, zapcore.WarnLevel, 0)
	if got := gauge(t, reg); got != 1 {
		t.Errorf("%s: got %v, want 1", evictionGauge, got)
	}
	got := logs.All()
	if len(got) != 1 || got[0].ContextMap()["node"] != cl.Nodes[1].Addr() || got[0].ContextMap()["maxmemory_policy"] != "volatile-ttl" {
		t.Errorf("logs: got %v, want one warning naming %s and volatile-ttl", got, cl.Nodes[1].Addr())
	}
	c.RequireNoeviction = true
	if s2, err := redis.New(t.Context(), c, nil, nil); err == nil {
		s2.Close()
		t.Error("New with require_noeviction: got no error")
	} else if !strings.Contains(err.Error(), "redis "+cl.Nodes[1].Addr()+" has maxmemory-policy volatile-ttl") {
		t.Errorf("New with require_noeviction: got %q, want it to name %s and volatile-ttl", err, cl.Nodes[1].Addr())
	}
}

// TestEvictionPolicySentinelFailover: after a failover to a replica that
// can evict, the running store reports the new master's policy.
func TestEvictionPolicySentinelFailover(t *testing.T) {
	sn := redistest.StartSentinel(t)
	configSet(t, sn.Replica.Addr(), "allkeys-lru")
	c := cfg(t, sn.Master.Addr())
	c.Addrs, c.MasterName, c.RequireNoeviction = sn.Addrs(), sn.MasterName, true
	s, reg, logs := observed(t, c, zapcore.WarnLevel, 50*time.Millisecond)
	if got := gauge(t, reg); got != 0 {
		t.Fatalf("%s before the failover: got %v, want 0", evictionGauge, got)
	}
	sn.Master.Kill()
	sn.WaitFailover(t, 30*time.Second)
	waitGauge(t, reg, 1)
	got := logs.FilterMessage(evictsMsg).All()
	if len(got) != 1 || got[0].Level != zapcore.ErrorLevel || got[0].ContextMap()["node"] != "master "+sn.MasterName || got[0].ContextMap()["maxmemory_policy"] != "allkeys-lru" {
		t.Errorf("logs: got %v, want one error naming master %s and allkeys-lru", got, sn.MasterName)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping after the failover (the running store keeps working): %v", err)
	}
}
