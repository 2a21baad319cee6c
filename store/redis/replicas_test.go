package redis_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/redis"
)

// TestWritesWaitForAReplica: on a node with a replica, a record write, a
// delete and the strike that voids are confirmed by the replica (WAIT)
// before they return, so that the replica holds them the moment the
// caller hears "done"; with the replica stalled, each returns after
// replica_wait, written, with a warning and
// keygate_store_replica_unconfirmed_total{op}; a strike that does not void
// and writes on a node without replicas never wait.
func TestWritesWaitForAReplica(t *testing.T) {
	master := redistest.Start(t, "--repl-diskless-sync-delay", "0")
	replica := redistest.StartReplica(t, master)
	// A store that waits long enough for a replica on a loaded machine,
	// and one that gives up soon, for the stalled replica.
	open := func(wait time.Duration) (*redis.Store, *observer.ObservedLogs, config.Redis) {
		c := cfg(t, master.Addr())
		c.ReadTimeout, c.ReplicaWait = wait+2*time.Second, wait
		s, logs := observedStore(t, c, zapcore.WarnLevel, prometheus.NewRegistry())
		return s, logs, c
	}
	s, logs, c := open(5 * time.Second)
	unconfirmed := func(op string) float64 {
		return testutil.ToFloat64(s.UnconfirmedCounter(op))
	}
	onReplica := goredis.NewClient(&goredis.Options{Addr: replica.Addr()})
	t.Cleanup(func() { onReplica.Close() })
	ctx := t.Context()

	// In sync: every confirmed write is on the replica when it returns.
	for i := range 20 {
		key := "cred/k" + string(rune('a'+i))
		if _, err := s.Put(ctx, key, []byte("revoked"), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if n, err := onReplica.Exists(ctx, c.KeyPrefix+"r:{"+key+"}").Result(); err != nil || n != 1 {
			t.Fatalf("write %d confirmed, but the replica does not have it (%d, %v)", i, n, err)
		}
	}
	if err := s.Delete(ctx, "cred/ka", 0); err != nil {
		t.Fatal(err)
	}
	if n, _ := onReplica.Exists(ctx, c.KeyPrefix+"r:{cred/ka}").Result(); n != 0 {
		t.Error("delete confirmed, but the replica still has the record")
	}
	if got := unconfirmed("put") + unconfirmed("delete") + float64(logs.Len()); got != 0 {
		t.Fatalf("with the replica in sync: %v unconfirmed writes or warnings, want none: %v", got, logs.All())
	}

	// Stalled: the write stays, waits replica_wait, and says so.
	s, logs, c = open(300 * time.Millisecond)
	replica.Pause()
	t.Cleanup(replica.Resume)
	start := time.Now()
	if _, err := s.Put(ctx, "cred/stalled", []byte("revoked"), store.WriteOptions{}); err != nil {
		t.Fatalf("a write the replica cannot confirm failed: %v (it is written; only the confirmation is missing)", err)
	}
	took := time.Since(start)
	if _, err := s.Get(ctx, "cred/stalled"); err != nil {
		t.Errorf("the unconfirmed write is not there: %v", err)
	}
	if unconfirmed("put") != 1 {
		t.Errorf("keygate_store_replica_unconfirmed_total{op=put} = %v, want 1", unconfirmed("put"))
	}
	warned := logs.FilterMessageSnippet("not confirmed by a replica").All()
	if len(warned) != 1 || warned[0].ContextMap()["op"] != "put" {
		t.Errorf("warnings %v, want one naming op put", logs.All())
	}
	t.Logf("a write with the replica stalled took %s (replica_wait %s)", took.Round(time.Millisecond), c.ReplicaWait)

	// The strike that voids waits; the ones before it do not.
	for i := range 3 {
		_, tripped, err := s.Strike(ctx, "apikey/alice", 3)
		if err != nil {
			t.Fatal(err)
		}
		want := 0.0
		if i == 2 {
			want = 1
		}
		if tripped != (i == 2) || unconfirmed("strike") != want {
			t.Errorf("strike %d: tripped %t, unconfirmed{strike} %v, want %t and %v", i+1, tripped, unconfirmed("strike"), i == 2, want)
		}
	}
	replica.Resume()

	// A cluster (masters without replicas): the write goes to its shard's
	// master, which has no replica to wait for.
	cl := redistest.StartCluster(t, 3)
	cc := cfg(t, cl.Addrs()[0])
	cc.Addrs, cc.Cluster, cc.ReadTimeout, cc.ReplicaWait = cl.Addrs(), true, 2*time.Second, 300*time.Millisecond
	cs, clogs := observedStore(t, cc, zapcore.WarnLevel, prometheus.NewRegistry())
	for _, key := range []string{"cred/a", "cred/b", "cred/c", "cred/d"} {
		if _, err := cs.Put(ctx, key, []byte("v"), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := testutil.ToFloat64(cs.UnconfirmedCounter("put")); n != 0 || clogs.Len() != 0 {
		t.Errorf("cluster without replicas: unconfirmed %v, warnings %v, want none", n, clogs.All())
	}

	// A node without replicas: no wait, no warning.
	lone := redistest.Start(t)
	lc := cfg(t, lone.Addr())
	lc.ReadTimeout, lc.ReplicaWait = 2*time.Second, 300*time.Millisecond
	ls, llogs := observedStore(t, lc, zapcore.WarnLevel, prometheus.NewRegistry())
	if _, err := ls.Put(ctx, "cred/x", []byte("v"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(ls.UnconfirmedCounter("put")); n != 0 || llogs.Len() != 0 {
		t.Errorf("without replicas: unconfirmed %v, warnings %v, want none", n, llogs.All())
	}
}
