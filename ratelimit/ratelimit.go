// Package ratelimit decides whether a request may go on under a rate
// limit: GCRA (a token bucket in constant memory per key) shared by every
// replica through Redis (github.com/go-redis/redis_rate, one Lua script on
// one key, so Cluster works), or kept in process (golang.org/x/time/rate)
// for the embedded store and as the fallback while Redis is down.
//
// The package knows nothing about HTTP or credentials: callers build the
// key (credential, user, route or client address) and turn a Decision into
// headers.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/maypok86/otter/v2"
)

// Limit is Rate events per Per, with bursts of up to Burst.
type Limit struct {
	Rate  int
	Per   time.Duration
	Burst int
	// Fast: the Redis limiter decides in process from budget leased in
	// batches of at most Batch (0: a tenth of Burst, at most 100ms of
	// Rate) instead of asking Redis every time; see fast.go for its
	// accuracy. The in-process limiter ignores both.
	Fast  bool
	Batch int
}

// Decision is the outcome of one Allow.
type Decision struct {
	Allowed bool
	// Limit is the burst: the most requests allowed at once.
	Limit int
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// RetryAfter is when the next request would be allowed (0 if now).
	RetryAfter time.Duration
	// ResetAfter is when the bucket is full again.
	ResetAfter time.Duration
	// Degraded: the decision was taken from budget leased before the
	// backend stopped answering (fast mode).
	Degraded bool
}

// Limiter takes one decision for a key under a limit.
type Limiter interface {
	Allow(ctx context.Context, key string, l Limit) (Decision, error)
}

// ErrUnavailable wraps a backend failure: the caller applies its
// on_store_error policy.
var ErrUnavailable = errors.New("ratelimit: backend unavailable")

// Redis is the limiter shared by replicas. In exact mode every decision
// is one atomic script in Redis (redis_rate); in fast mode decisions are
// taken in process from leased budget (fast.go). Both modes keep the same
// GCRA state under the same key.
type Redis struct {
	limiter *redis_rate.Limiter
	client  goredis.UniversalClient
	prefix  string
	timeout time.Duration

	leases    *otter.Cache[string, *lease]
	life      time.Duration // leaseLife; tests make it longer
	downUntil atomic.Int64  // unix ns: a lease failed, don't ask again before
	returns   sync.WaitGroup
	done      chan struct{}
	closeOnce sync.Once
}

var _ Limiter = (*Redis)(nil)

// NewRedis builds the Redis limiter on an existing client; keys are put
// under prefix (the store's key prefix) and every call runs under timeout.
// Fast-mode leases are kept for at most maxKeys keys. Close gives back
// unspent leases.
func NewRedis(client goredis.UniversalClient, prefix string, timeout time.Duration, maxKeys int) (*Redis, error) {
	if timeout <= 0 {
		timeout = time.Second
	}
	leases, err := otter.New(&otter.Options[string, *lease]{
		MaximumSize:      maxKeys,
		ExpiryCalculator: otter.ExpiryAccessing[string, *lease](10 * time.Minute),
	})
	if err != nil {
		return nil, err
	}
	r := &Redis{
		limiter: redis_rate.NewLimiter(client),
		client:  client,
		prefix:  prefix + "rl:",
		timeout: timeout,
		leases:  leases,
		life:    leaseLife,
		done:    make(chan struct{}),
	}
	go r.sweep(leaseLife)
	return r, nil
}

// redisKey is key's name in Redis, as redis_rate names it.
func (r *Redis) redisKey(key string) string { return "rate:" + r.prefix + "{" + key + "}" }

// Allow takes a decision in Redis (exact) or from leased budget (fast).
func (r *Redis) Allow(ctx context.Context, key string, l Limit) (Decision, error) {
	if l.Fast {
		return r.allowFast(ctx, key, l)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res, err := r.limiter.Allow(ctx, r.prefix+"{"+key+"}", redis_rate.Limit{Rate: l.Rate, Period: l.Per, Burst: l.Burst})
	if err != nil {
		return Decision{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	d := Decision{Allowed: res.Allowed > 0, Limit: l.Burst, Remaining: res.Remaining, ResetAfter: res.ResetAfter}
	if !d.Allowed && res.RetryAfter > 0 {
		d.RetryAfter = res.RetryAfter
	}
	return d, nil
}

// Local keeps one token bucket per key in this process: the embedded
// store's limiter, and each replica's fallback while Redis is down. Idle
// buckets are forgotten after a while (a forgotten bucket is a full one).
type Local struct {
	buckets *otter.Cache[string, *rate.Limiter]
	now     func() time.Time
}

var _ Limiter = (*Local)(nil)

// NewLocal builds an in-process limiter holding at most maxKeys buckets.
func NewLocal(maxKeys int, now func() time.Time) (*Local, error) {
	if now == nil {
		now = time.Now
	}
	c, err := otter.New(&otter.Options[string, *rate.Limiter]{
		MaximumSize:      maxKeys,
		ExpiryCalculator: otter.ExpiryAccessing[string, *rate.Limiter](10 * time.Minute),
	})
	if err != nil {
		return nil, err
	}
	return &Local{buckets: c, now: now}, nil
}

// Allow takes a decision in process.
func (l *Local) Allow(_ context.Context, key string, lim Limit) (Decision, error) {
	every := rate.Every(lim.Per / time.Duration(max(lim.Rate, 1)))
	b, ok := l.buckets.GetIfPresent(key)
	if !ok || b.Limit() != every || b.Burst() != lim.Burst {
		b, _ = l.buckets.Compute(key, func(old *rate.Limiter, found bool) (*rate.Limiter, otter.ComputeOp) {
			if found && old.Limit() == every && old.Burst() == lim.Burst {
				return old, otter.CancelOp
			}
			return rate.NewLimiter(every, lim.Burst), otter.WriteOp
		})
	}
	now := l.now()
	d := Decision{Limit: lim.Burst}
	if b.AllowN(now, 1) {
		d.Allowed = true
	} else {
		r := b.ReserveN(now, 1)
		d.RetryAfter = r.DelayFrom(now)
		r.CancelAt(now)
	}
	tokens := b.TokensAt(now)
	d.Remaining = max(int(math.Floor(tokens)), 0)
	if missing := float64(lim.Burst) - tokens; missing > 0 {
		d.ResetAfter = time.Duration(missing * float64(lim.Per) / float64(max(lim.Rate, 1)))
	}
	return d, nil
}
