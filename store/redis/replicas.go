package redis

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// replicasFresh is how long a node's count of connected replicas is
// believed before INFO replication is asked again.
const replicasFresh = 5 * time.Second

// replicaCounts caches, per node address, how many replicas the node had
// connected when last asked: a write waits for a replica only where one
// exists, since WAIT 1 on a node without replicas would always take its
// whole timeout.
type replicaCounts struct {
	mu    sync.Mutex
	nodes map[string]replicaCount
}

type replicaCount struct {
	n  int
	at time.Time
}

// confirm waits, up to store.redis.replica_wait, until one replica of the
// node that holds key has every write made on that node so far — the
// write of op on key among them — so that a failover cannot lose it.
// WAIT counts the writes made on its own connection, and go-redis hands
// out pooled connections, so confirm writes a short-lived marker beside
// key (same hash slot) and waits on the same connection in one pipeline:
// the replication stream is ordered, so a replica that has the marker has
// the write before it. A write that could not be confirmed stays written;
// confirm logs a warning naming op and counts it in
// keygate_store_replica_unconfirmed_total{op}.
func (s *Store) confirm(ctx context.Context, op, key string) {
	if s.replicaWait <= 0 {
		return
	}
	node, addr := s.nodeFor(ctx, key)
	if node == nil || s.replicasOf(ctx, node, addr) == 0 {
		return
	}
	pipe := node.Pipeline()
	pipe.Set(ctx, s.prefix+"w:{"+key+"}", "1", time.Second)
	wait := pipe.Do(ctx, "wait", 1, s.replicaWait.Milliseconds())
	_, err := pipe.Exec(ctx)
	acked, _ := wait.Int64()
	if err == nil && acked >= 1 {
		return
	}
	s.metrics.unconfirmed.WithLabelValues(op).Inc()
	fields := []zap.Field{zap.String("op", op), zap.String("node", addr), zap.Duration("replica_wait", s.replicaWait)}
	if err != nil {
		fields = append(fields, zap.Error(err))
	}
	s.log.Warn("store: write not confirmed by a replica; a failover now could lose it", fields...)
}

// nodeFor is the client of the node that holds key (in Cluster mode, its
// shard's master) and that node's address.
func (s *Store) nodeFor(ctx context.Context, key string) (goredis.Cmdable, string) {
	switch c := s.client.(type) {
	case *goredis.ClusterClient:
		n, err := c.MasterForKey(ctx, s.recordKey(key))
		if err != nil {
			return nil, ""
		}
		return n, n.Options().Addr
	case *goredis.Client:
		return c, c.Options().Addr
	}
	return nil, ""
}

// replicasOf is the node's count of connected replicas, asked at most
// every replicasFresh; 0 when it cannot be read (no wait then: a write
// never waits on a count it does not know).
func (s *Store) replicasOf(ctx context.Context, node goredis.Cmdable, addr string) int {
	now := time.Now()
	s.replicas.mu.Lock()
	c, ok := s.replicas.nodes[addr]
	s.replicas.mu.Unlock()
	if ok && now.Sub(c.at) < replicasFresh {
		return c.n
	}
	info, err := node.Info(ctx, "replication").Result()
	n := 0
	if err == nil {
		n = connectedReplicas(info)
	}
	s.replicas.mu.Lock()
	if s.replicas.nodes == nil {
		s.replicas.nodes = map[string]replicaCount{}
	}
	s.replicas.nodes[addr] = replicaCount{n: n, at: now}
	s.replicas.mu.Unlock()
	return n
}

// connectedReplicas reads connected_slaves from INFO replication.
func connectedReplicas(info string) int {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}
