package ratelimit

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// FailureGuard counts failed credential checks per K (a client address,
// or an ApiKey key), in process, and blocks a K whose failures exceed a
// limit until its bucket refills. Its job is to make a guessing flood
// cheap to refuse (no store look-up while blocked), not to count exactly
// across replicas.
type FailureGuard[K comparable] struct {
	limit   Limit
	name    func(K) string // the bucket's key
	buckets *Local
	blocked *otter.Cache[K, time.Time] // until when
	now     func() time.Time
	// latest is the latest time until which some K is blocked, in ns
	// since epoch (monotonic, like the blocks themselves: a step of the
	// wall clock moves neither), 0 once it has passed: while nothing is
	// blocked, the steady state, Blocked answers from it without a cache
	// look-up or a clock read.
	latest atomic.Int64
	epoch  time.Time
}

// NewFailureGuard forgives l.Rate failures per l.Per per address, in
// bursts of l.Burst.
func NewFailureGuard(l Limit) (*FailureGuard[netip.Addr], error) {
	return newFailureGuard(l, netip.Addr.String)
}

// NewKeyFailureGuard is NewFailureGuard per string key (an ApiKey key).
func NewKeyFailureGuard(l Limit) (*FailureGuard[string], error) {
	return newFailureGuard(l, func(k string) string { return k })
}

func newFailureGuard[K comparable](l Limit, name func(K) string) (*FailureGuard[K], error) {
	local, err := NewLocal(100_000, nil)
	if err != nil {
		return nil, err
	}
	blocked, err := otter.New(&otter.Options[K, time.Time]{
		MaximumSize: 100_000,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[K, time.Time]) time.Duration {
			return time.Until(e.Value) + time.Second
		}),
	})
	if err != nil {
		return nil, err
	}
	return &FailureGuard[K]{limit: l, name: name, buckets: local, blocked: blocked, now: time.Now, epoch: time.Now()}, nil
}

// Blocked reports whether k is blocked now and for how long. It
// allocates nothing, and while no K is blocked it reads one atomic.
func (g *FailureGuard[K]) Blocked(k K) (time.Duration, bool) {
	latest := g.latest.Load()
	if latest == 0 {
		return 0, false
	}
	now := g.now()
	if int64(now.Sub(g.epoch)) >= latest {
		// Every block has run out. A block set meanwhile changed latest,
		// and then the swap does nothing.
		g.latest.CompareAndSwap(latest, 0)
		return 0, false
	}
	until, ok := g.blocked.GetIfPresent(k)
	if !ok {
		return 0, false
	}
	wait := until.Sub(now)
	return wait, wait > 0
}

// Failed counts one failed check for k and blocks it when its failures
// exceed the limit.
func (g *FailureGuard[K]) Failed(k K) {
	d, _ := g.buckets.Allow(context.Background(), g.name(k), g.limit)
	if !d.Allowed {
		until := g.now().Add(d.RetryAfter)
		// latest first: a Blocked in between looks k up and, not finding
		// it yet, lets one more check through, which a guard may.
		for u := max(int64(until.Sub(g.epoch)), 1); ; {
			old := g.latest.Load()
			if old >= u || g.latest.CompareAndSwap(old, u) {
				break
			}
		}
		g.blocked.Set(k, until)
	}
}
