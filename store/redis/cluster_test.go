package redis_test

import (
	"regexp"
	"strconv"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate/internal/redistest"
)

// TestClusterPublishRoutedBySlot: on a three-master cluster every PUBLISH
// goes to the master of the channel's slot, where subscribers are, so that
// one publisher's messages cannot overtake each other on the cluster bus.
func TestClusterPublishRoutedBySlot(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	c := cfg(t, cl.Nodes[0].Addr())
	c.Addrs, c.Cluster = cl.Addrs(), true
	s := newStore(t, c)
	defer s.Close()
	ctx := t.Context()
	const n = 30
	for range n {
		if err := s.Publish(ctx, "events", []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	master, err := s.Client().(*goredis.ClusterClient).MasterForKey(ctx, c.KeyPrefix+"e:events")
	if err != nil {
		t.Fatal(err)
	}
	calls := regexp.MustCompile(`cmdstat_publish:calls=(\d+)`)
	for _, addr := range cl.Addrs() {
		node := goredis.NewClient(&goredis.Options{Addr: addr})
		info, err := node.Info(ctx, "commandstats").Result()
		node.Close()
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		if m := calls.FindStringSubmatch(info); m != nil {
			got, _ = strconv.Atoi(m[1])
		}
		want := 0
		if addr == master.Options().Addr {
			want = n
		}
		if got != want {
			t.Errorf("PUBLISH calls on node %s: %d, want %d (the channel's slot is on %s)", addr, got, want, master.Options().Addr)
		}
	}
}
