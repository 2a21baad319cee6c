package ratelimit

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
	goredis "github.com/redis/go-redis/v9"
)

// Fast mode: each replica spends, in process, tokens it leases from the
// shared GCRA bucket in Redis in small batches, and leases the next batch
// in the background before the current one runs out, so a request
// normally costs no Redis round trip.
//
// Accuracy. Every admitted request spends a token that was taken from the
// shared bucket, so the total admitted never exceeds what exact mode
// allows over the life of the bucket. Over a window, though, a replica
// may spend tokens it leased before the window began: with R replicas and
// leases of at most b tokens, a window admits at most R·b more than exact
// mode would (over-admission at a period boundary), and tokens leased but
// neither spent nor yet given back are at most R·b fewer (under-admission:
// another replica is refused while they sit in a lease). A lease is spent
// within leaseLife or given back (the bucket's arrival time moves back,
// never below now, so a full bucket does not get fuller); leases still
// held when a replica stops are given back by Close. Remaining and
// ResetAfter are approximate: Redis's figures at the last lease plus the
// tokens this replica still holds.

const (
	// leaseLife: tokens of a lease not spent by then are given back.
	leaseLife = time.Second
	// leaseTarget: a lease should last about this long; the batch doubles
	// while leases run out faster and halves when one expires unspent.
	leaseTarget = 100 * time.Millisecond
	// downFor: after a failed lease, Redis is not asked again for this
	// long (decisions need budget go straight to on_store_error).
	downFor = 250 * time.Millisecond
	// firstBatch: a key's first lease, before its traffic is known.
	firstBatch = 8
)

//go:embed lease.lua
var leaseSource string

var leaseScript = goredis.NewScript(leaseSource)

// lease is one key's budget on this replica.
type lease struct {
	mu       sync.Mutex
	limit    Limit
	max      int // largest batch
	batch    int // next batch
	tokens   int // leased and not spent
	granted  time.Time
	expires  time.Time // unspent tokens are given back then
	blocked  time.Time // Redis refused: don't ask again before then
	retryAt  time.Time // Redis refused: its next token then
	left     int       // Redis's remaining at the last lease
	resetAt  time.Time // Redis's bucket full again, as of the last lease
	inflight chan struct{}
	err      error // the last lease's error
}

// batchFor is the largest lease for l: l.Batch if set, else a tenth of
// the burst, at most the tokens of 100ms, at least 1.
func batchFor(l Limit) int {
	if l.Batch > 0 {
		return min(l.Batch, l.Burst)
	}
	perTarget := int(int64(l.Rate) * int64(leaseTarget) / int64(l.Per))
	return max(1, min(l.Burst/10, perTarget))
}

func (r *Redis) lease(key string, l Limit) *lease {
	if e, ok := r.leases.GetIfPresent(key); ok && e.limit == l {
		return e
	}
	e, _ := r.leases.Compute(key, func(old *lease, found bool) (*lease, otter.ComputeOp) {
		if found && old.limit == l {
			return old, otter.CancelOp
		}
		if found {
			old.mu.Lock()
			r.giveBack(key, old)
			old.mu.Unlock()
		}
		m := batchFor(l)
		return &lease{limit: l, max: m, batch: min(m, firstBatch)}, otter.WriteOp
	})
	return e
}

// allowFast spends a leased token, leasing a batch first if none is left.
func (r *Redis) allowFast(ctx context.Context, key string, l Limit) (Decision, error) {
	e := r.lease(key, l)
	// Each round either decides or waits for a lease; a round only repeats
	// when other requests spent the new batch first, and the batch doubles
	// each time that happens quickly, so the rounds are few.
	for range 16 {
		e.mu.Lock()
		now := time.Now()
		if e.tokens > 0 && now.After(e.expires) {
			r.giveBack(key, e)
			if e.batch > 1 {
				e.batch /= 2
			}
		}
		if e.tokens > 0 {
			e.tokens--
			d := e.decision(now, true)
			d.Degraded = e.err != nil
			if e.tokens <= e.batch/2 && e.inflight == nil && !r.isDown(now) {
				r.refill(key, e)
			}
			e.mu.Unlock()
			return d, nil
		}
		if now.Before(e.blocked) {
			d := e.decision(now, false)
			d.Degraded = e.err != nil
			e.mu.Unlock()
			return d, nil
		}
		if r.isDown(now) {
			err := e.err
			e.mu.Unlock()
			if err == nil {
				err = fmt.Errorf("%w: redis did not answer a moment ago", ErrUnavailable)
			}
			return Decision{}, err
		}
		ch := e.inflight
		if ch == nil {
			ch = r.refill(key, e)
		}
		e.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Decision{}, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
		e.mu.Lock()
		err := e.err
		e.mu.Unlock()
		if err != nil {
			return Decision{}, err
		}
	}
	// Other requests spent each batch first: refuse this one briefly.
	return Decision{Limit: l.Burst, RetryAfter: l.Per / time.Duration(l.Rate)}, nil
}

// decision describes e after a spend (or a refusal). e.mu is held.
func (e *lease) decision(now time.Time, allowed bool) Decision {
	d := Decision{Allowed: allowed, Limit: e.limit.Burst, Remaining: min(e.left+e.tokens, e.limit.Burst)}
	if e.resetAt.After(now) {
		d.ResetAfter = e.resetAt.Sub(now)
	}
	if !allowed {
		d.Remaining = 0
		d.RetryAfter = e.retryAt.Sub(now)
	}
	return d
}

// refill leases the next batch in the background and returns a channel
// closed when it is done. e.mu is held.
func (r *Redis) refill(key string, e *lease) chan struct{} {
	ch := make(chan struct{})
	e.inflight = ch
	n, l, since := e.batch, e.limit, e.granted
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		got, left, retry, reset, err := r.runLease(ctx, key, l, n)
		cancel()
		e.mu.Lock()
		now := time.Now()
		e.err = err
		if err != nil {
			r.markDown(now)
		} else {
			if got > 0 {
				if got == n && !since.IsZero() && now.Sub(since) < leaseTarget {
					e.batch = min(e.batch*2, e.max)
				}
				e.tokens += got
				e.granted, e.expires = now, now.Add(r.life)
			} else {
				// Ask again at most leaseLife later: another replica may
				// give tokens back before the bucket's next one.
				e.retryAt, e.blocked = now.Add(retry), now.Add(min(retry, r.life))
			}
			e.left, e.resetAt = left, now.Add(reset)
		}
		e.inflight = nil
		e.mu.Unlock()
		close(ch)
	}()
	return ch
}

// giveBack returns e's unspent tokens to Redis in the background. e.mu
// is held.
func (r *Redis) giveBack(key string, e *lease) {
	n, l := e.tokens, e.limit
	e.tokens = 0
	if n == 0 {
		return
	}
	r.returns.Add(1)
	go func() {
		defer r.returns.Done()
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		defer cancel()
		_, _, _, _, _ = r.runLease(ctx, key, l, -n) // lost: under-admission until the bucket refills
	}()
}

// runLease runs the lease script: n > 0 leases up to n tokens, n < 0
// gives -n back.
func (r *Redis) runLease(ctx context.Context, key string, l Limit, n int) (got, left int, retry, reset time.Duration, err error) {
	args := []any{l.Burst, l.Rate, l.Per.Seconds(), n}
	v, err := leaseScript.Run(ctx, r.client, []string{r.redisKey(key)}, args...).Slice()
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if len(v) != 4 {
		return 0, 0, 0, 0, fmt.Errorf("%w: lease script answered %d values", ErrUnavailable, len(v))
	}
	got64, _ := v[0].(int64)
	left64, _ := v[1].(int64)
	retryS, _ := v[2].(string)
	resetS, _ := v[3].(string)
	return int(got64), int(left64), seconds(retryS), seconds(resetS), nil
}

func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

func (r *Redis) isDown(now time.Time) bool { return now.UnixNano() < r.downUntil.Load() }

func (r *Redis) markDown(now time.Time) { r.downUntil.Store(now.Add(downFor).UnixNano()) }

// sweep gives back the tokens of expired leases until Close.
func (r *Redis) sweep(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case now := <-t.C:
			for key, e := range r.leases.All() {
				e.mu.Lock()
				if e.tokens > 0 && now.After(e.expires) {
					r.giveBack(key, e)
					if e.batch > 1 {
						e.batch /= 2
					}
				}
				e.mu.Unlock()
			}
		}
	}
}

// Close gives back every unspent lease and waits (within the limiter's
// timeout) for Redis to take them. The limiter must not be used during
// or after Close (the gateway closes it once the listener has drained).
func (r *Redis) Close() {
	r.closeOnce.Do(func() {
		close(r.done)
		for key, e := range r.leases.All() {
			e.mu.Lock()
			r.giveBack(key, e)
			e.mu.Unlock()
		}
		r.returns.Wait()
	})
}
