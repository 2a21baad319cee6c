package redistest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Sentinel timings, short so that a failover takes a few seconds: a master
// that does not answer for SentinelDownAfter is down; a failover attempt
// that has not finished within sentinelFailoverTimeout is abandoned and
// tried again.
const (
	SentinelDownAfter       = time.Second
	sentinelFailoverTimeout = 3 * time.Second
	sentinelQuorum          = 2
)

// Sentinel is a Redis Sentinel setup of private processes: a master, one
// replica of it and three sentinels monitoring them under MasterName.
type Sentinel struct {
	// MasterName is the name the sentinels monitor the master under.
	MasterName string
	// Master and Replica are the data servers as started; after a
	// failover the replica is the master.
	Master, Replica *Server
	// Sentinels are the three sentinel processes.
	Sentinels []*Server
}

// StartSentinel starts the setup and waits until the replica is in sync
// and every sentinel knows the master, its replica and the other two
// sentinels, so that a failover can happen from then on. Everything is
// stopped when the test ends. The sentinels are redis-server --sentinel
// (Debian's redis-sentinel package adds only a service around it).
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	s := &Sentinel{MasterName: "keygate-test"}
	// The replica syncs at once (a diskless sync waits 5 seconds by default
	// for more replicas to join).
	s.Master = Start(t, "--repl-diskless-sync-delay", "0")
	s.Replica = StartReplica(t, s.Master)
	conf := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d %[3]d\n"+
		"sentinel down-after-milliseconds %[1]s %[4]d\n"+
		"sentinel failover-timeout %[1]s %[5]d\n"+
		"sentinel parallel-syncs %[1]s 1\n",
		s.MasterName, s.Master.port, sentinelQuorum, SentinelDownAfter.Milliseconds(), sentinelFailoverTimeout.Milliseconds())
	for range 3 {
		s.Sentinels = append(s.Sentinels, startConf(t, conf, "--sentinel"))
	}
	// A sentinel learns of the replica from the master's INFO and of the
	// other sentinels from their hello messages (every 2 seconds).
	want := fmt.Sprintf("name=%s,status=ok,address=%s,slaves=1,sentinels=3", s.MasterName, s.Master.Addr())
	for _, sn := range s.Sentinels {
		waitFor(t, "sentinel "+sn.Addr()+" to see the master, its replica and two other sentinels", func() (bool, error) {
			info, err := call(t.Context(), sn.Addr(), "INFO", "sentinel")
			return strings.Contains(info, want), err
		})
	}
	return s
}

// StartReplica starts a private redis-server replicating master and
// waits until it is in sync. Start master with "--repl-diskless-sync-delay",
// "0", or the first sync waits 5 seconds for more replicas to join.
func StartReplica(t testing.TB, master *Server) *Server {
	t.Helper()
	r := Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.port))
	waitFor(t, "replica in sync with "+master.Addr(), func() (bool, error) {
		info, err := call(t.Context(), r.Addr(), "INFO", "replication")
		return strings.Contains(info, "master_link_status:up"), err
	})
	return r
}

// Addrs are the sentinels' addresses, what store.redis.addrs lists in
// Sentinel mode.
func (s *Sentinel) Addrs() []string { return addrs(s.Sentinels) }

// ReportedMasters returns the master address each sentinel reports now
// ("" for one that does not answer).
func (s *Sentinel) ReportedMasters(ctx context.Context) []string {
	out := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		c := goredis.NewSentinelClient(&goredis.Options{Addr: sn.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second, Protocol: 2, DisableIdentity: true})
		hp, err := c.GetMasterAddrByName(ctx, s.MasterName).Result()
		_ = c.Close()
		if err == nil && len(hp) == 2 {
			out[i] = net.JoinHostPort(hp[0], hp[1])
		}
	}
	return out
}

// WaitFailover waits until every sentinel reports the replica as the
// master and the replica says it is one, and fails the test if that takes
// longer than timeout.
func (s *Sentinel) WaitFailover(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	want := s.Replica.Addr()
	for {
		masters := s.ReportedMasters(t.Context())
		if slices.IndexFunc(masters, func(a string) bool { return a != want }) < 0 {
			info, err := call(t.Context(), want, "INFO", "replication")
			if err == nil && strings.Contains(info, "role:master") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: no failover to %s within %s: sentinels report %v", want, timeout, masters)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor polls cond every 20ms for up to readyTimeout and fails the test
// with what and cond's last error if it never holds.
func waitFor(t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: waiting for %s: not after %s (last error: %v)", what, readyTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// call runs one command on the server at addr and returns its reply as a
// string (an integer reply formatted).
func call(ctx context.Context, addr string, args ...any) (string, error) {
	c := goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	defer c.Close()
	v, err := c.Do(ctx, args...).Result()
	if err != nil {
		return "", err
	}
	return fmt.Sprint(v), nil
}
