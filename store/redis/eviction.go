package redis

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// evictionCheckInterval is how often a running Store reads the eviction
// policy again, to notice a failover to a differently configured master or
// a CONFIG SET.
const evictionCheckInterval = time.Minute

// Values of keygate_store_redis_eviction_possible.
const (
	evictionNo         = 0  // every master reports noeviction
	evictionPossible   = 1  // some master has another policy
	evictionUnreadable = -1 // some master's policy could not be read, none evicts
)

// policy is what one node said about its maxmemory-policy.
type policy struct {
	name string // the policy; "" when it could not be read
	err  error  // why it could not be read
	// failed marks an error that is not the server's answer (network,
	// timeout): it says nothing about the policy.
	failed bool
}

// canEvict reports whether Redis may drop keys under this policy. Every
// policy but noeviction can: the volatile-* ones evict only keys with a
// TTL, and keygate gives many of its keys one (counters, tokens, records
// that expire).
func (p policy) canEvict() bool { return p.name != "" && p.name != "noeviction" }

// evictionState is what the last check found, per node, so that a warning
// is logged when something changes rather than at every check.
type evictionState struct {
	mu    sync.Mutex
	nodes map[string]policy // node → last policy read (failed ones not kept)
}

// readPolicy reads the node's maxmemory-policy from INFO memory, or with
// CONFIG GET where INFO is refused or hides the field (managed services
// restrict one or the other).
func readPolicy(ctx context.Context, c goredis.Cmdable) policy {
	info, err := c.Info(ctx, "memory").Result()
	if err == nil {
		for line := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "maxmemory_policy:"); ok && v != "" {
				return policy{name: v}
			}
		}
		err = errors.New("INFO memory has no maxmemory_policy")
	} else if !isReply(err) {
		return policy{err: err, failed: true}
	}
	kv, cerr := c.ConfigGet(ctx, "maxmemory-policy").Result()
	switch {
	case cerr == nil && kv["maxmemory-policy"] != "":
		return policy{name: kv["maxmemory-policy"]}
	case cerr == nil:
		cerr = errors.New("CONFIG GET maxmemory-policy answered nothing")
	case !isReply(cerr):
		return policy{err: cerr, failed: true}
	}
	return policy{err: fmt.Errorf("INFO memory: %w; CONFIG GET: %w", err, cerr)}
}

// isReply reports whether err is an error reply of the server (such as an
// unknown command or NOPERM) rather than a failure to get one.
func isReply(err error) bool {
	var rerr goredis.Error
	return errors.As(err, &rerr) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}

// readPolicies reads the policy of every master: each master of a Cluster,
// the current master of a Sentinel setup, or the one node.
func (s *Store) readPolicies(ctx context.Context) (map[string]policy, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	cc, ok := s.client.(*goredis.ClusterClient)
	if !ok {
		return map[string]policy{s.nodeName: readPolicy(ctx, s.client)}, nil
	}
	var mu sync.Mutex
	out := make(map[string]policy)
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
		p := readPolicy(ctx, c)
		mu.Lock()
		out[c.Options().Addr] = p
		mu.Unlock()
		return nil
	})
	return out, err
}

// checkEviction reads every master's policy, logs what changed since the
// last check and sets keygate_store_redis_eviction_possible. It returns
// the policies read, failed ones included. A warning is logged once per
// node for a policy that can evict and once for one that cannot be read;
// with require set, at error level.
func (s *Store) checkEviction(ctx context.Context, require bool) (map[string]policy, error) {
	read, err := s.readPolicies(ctx)
	if err != nil {
		s.log.Debug("redis eviction policy check failed", zap.Error(err))
		return nil, err
	}
	level := zap.WarnLevel
	if require {
		level = zap.ErrorLevel
	}
	st := &s.eviction
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.nodes == nil {
		st.nodes = make(map[string]policy)
	}
	for node, p := range read {
		if p.failed {
			s.log.Debug("redis eviction policy check failed", zap.String("node", node), zap.Error(p.err))
			continue
		}
		prev, seen := st.nodes[node]
		st.nodes[node] = p
		if seen && prev.name == p.name {
			continue
		}
		switch {
		case p.canEvict():
			s.log.Log(level, "redis may evict keygate's keys: revocations, lockout counters and credentials can be lost silently; set maxmemory-policy noeviction",
				zap.String("node", node), zap.String("maxmemory_policy", p.name))
		case p.name == "":
			s.log.Log(level, "could not read the redis eviction policy (maxmemory-policy must be noeviction, or revocations and lockout counters can be lost silently)",
				zap.String("node", node), zap.Error(p.err))
		case seen:
			s.log.Info("redis eviction policy is noeviction", zap.String("node", node), zap.String("maxmemory_policy", p.name))
		}
	}
	// A Cluster's masters change with a failover or resharding: the gauge
	// speaks of the current ones only.
	if _, ok := s.client.(*goredis.ClusterClient); ok && len(read) > 0 {
		for node := range st.nodes {
			if _, ok := read[node]; !ok {
				delete(st.nodes, node)
			}
		}
	}
	s.metrics.evictionPossible.Set(evictionValue(st.nodes))
	return read, nil
}

// evictionValue is the gauge's value for the nodes' policies: unreadable
// when none could be read yet.
func evictionValue(nodes map[string]policy) float64 {
	if len(nodes) == 0 {
		return evictionUnreadable
	}
	v := float64(evictionNo)
	for _, p := range nodes {
		switch {
		case p.canEvict():
			return evictionPossible
		case p.name == "":
			v = evictionUnreadable
		}
	}
	return v
}

// requireNoeviction is the start-up check of store.redis.require_noeviction:
// an error naming the node and its policy unless every master read
// noeviction.
func requireNoeviction(read map[string]policy) error {
	if len(read) == 0 {
		return errors.New("store.redis.require_noeviction: found no redis master to read the maxmemory-policy of")
	}
	var errs []error
	for _, node := range slices.Sorted(maps.Keys(read)) {
		p := read[node]
		switch {
		case p.canEvict():
			errs = append(errs, fmt.Errorf("store.redis.require_noeviction: redis %s has maxmemory-policy %s, which can evict keys; set it to noeviction", node, p.name))
		case p.name == "":
			errs = append(errs, fmt.Errorf("store.redis.require_noeviction: could not read the maxmemory-policy of redis %s (%w); set require_noeviction to false where the provider guarantees noeviction but hides it", node, p.err))
		}
	}
	return errors.Join(errs...)
}

// watchEviction checks the policy every interval and whenever a
// subscription noticed a reconnection (s.recheck), until Close.
func (s *Store) watchEviction(interval time.Duration, require bool) {
	defer s.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		case <-s.recheck:
		}
		_, _ = s.checkEviction(ctx, require)
	}
}
