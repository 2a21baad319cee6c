package redis

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// The circuit breaker: once Redis is known to be down, calls fail at once
// instead of each waiting for a dial or read to time out, so that the
// credentials keygate has cached (within auth.stale_if_error) are answered
// at cache speed and the others get 503 without a wait. It is a go-redis
// hook, so it covers every command of the client: the store's calls and
// the Redis rate limiter's alike. It is fed by every command's outcome
// and by the invalidation subscription (subscription.go): a lost
// subscription connection counts as one failure.
const (
	// breakerThreshold consecutive failed commands open the breaker. Any
	// command Redis answers (a reply error included) resets the count.
	breakerThreshold = 3
	// breakerProbeEvery is how often an open breaker pings Redis; the
	// first answer closes it.
	breakerProbeEvery = 200 * time.Millisecond
)

// errDown is what a command gets while the breaker is open.
var errDown = errors.New("redis unreachable: failing fast until it answers a probe")

// breaker counts consecutive failed commands and, open, fails commands
// without sending them while a background probe waits for Redis to answer.
type breaker struct {
	failures atomic.Int32
	open     atomic.Bool
	wake     chan struct{} // a newly open breaker starts the probe
	log      *zap.Logger
	m        *metrics
}

type probeKey struct{}

// hook is the go-redis hook that short-circuits commands while the
// breaker is open and feeds it every command's outcome.
type hook struct{ b *breaker }

func (h hook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h hook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if h.b.open.Load() && ctx.Value(probeKey{}) == nil {
			h.b.m.shortCircuits.Inc()
			cmd.SetErr(errDown)
			return errDown
		}
		err := next(ctx, cmd)
		h.b.observe(ctx, err)
		return err
	}
}

func (h hook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if h.b.open.Load() && ctx.Value(probeKey{}) == nil {
			h.b.m.shortCircuits.Inc()
			for _, c := range cmds {
				c.SetErr(errDown)
			}
			return errDown
		}
		err := next(ctx, cmds)
		h.b.observe(ctx, err)
		return err
	}
}

// observe counts a command's outcome: Redis answered (nil, a nil reply or
// an error reply other than the unavailable ones) resets the count;
// anything else — refused or broken connections, timeouts — counts a
// failure. A caller that gave up (context.Canceled) says nothing about
// Redis.
func (b *breaker) observe(ctx context.Context, err error) {
	if !down(err) || errors.Is(err, context.Canceled) || ctx.Err() == context.Canceled {
		if b.failures.Load() != 0 {
			b.failures.Store(0)
		}
		return
	}
	if b.failures.Add(1) >= breakerThreshold && b.open.CompareAndSwap(false, true) {
		b.m.circuitOpen.Set(1)
		b.log.Warn("store: redis unreachable; failing fast and serving cached credentials until it answers",
			zap.Error(err), zap.Duration("probe_every", breakerProbeEvery))
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

// down says whether err means Redis did not answer as a working master.
func down(err error) bool {
	if err == nil || errors.Is(err, goredis.Nil) {
		return false
	}
	var reply goredis.Error
	if errors.As(err, &reply) && !isNetErr(err) {
		msg := reply.Error()
		for _, p := range []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	return true
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

// probe runs until done: while the breaker is open it pings Redis every
// breakerProbeEvery (bypassing the breaker) and closes it on the first
// answer.
func (s *Store) probe(done <-chan struct{}) {
	defer s.wg.Done()
	b := s.breaker
	t := time.NewTicker(breakerProbeEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-b.wake:
		}
		for b.open.Load() {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), probeKey{}, true), s.timeout)
			err := s.client.Ping(ctx).Err()
			cancel()
			if err == nil {
				b.failures.Store(0)
				b.open.Store(false)
				b.m.circuitOpen.Set(0)
				s.log.Info("store: redis answers again; the circuit is closed")
			}
		}
	}
}

// Down reports whether the breaker is open: Redis is known not to answer.
func (s *Store) Down() bool { return s.breaker.open.Load() }
