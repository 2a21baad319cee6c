package ratelimit

import (
	"context"
	"net/netip"
	"time"

	"github.com/maypok86/otter/v2"
)

// FailureGuard counts failed credential checks per client address, in
// process, and blocks an address whose failures exceed a limit until its
// bucket refills. Its job is to make a guessing flood cheap to refuse (no
// store look-up while blocked), not to count exactly across replicas.
type FailureGuard struct {
	limit   Limit
	buckets *Local
	blocked *otter.Cache[netip.Addr, time.Time] // until when
	now     func() time.Time
}

// NewFailureGuard forgives l.Rate failures per l.Per per address, in
// bursts of l.Burst.
func NewFailureGuard(l Limit) (*FailureGuard, error) {
	local, err := NewLocal(100_000, nil)
	if err != nil {
		return nil, err
	}
	blocked, err := otter.New(&otter.Options[netip.Addr, time.Time]{
		MaximumSize: 100_000,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[netip.Addr, time.Time]) time.Duration {
			return time.Until(e.Value) + time.Second
		}),
	})
	if err != nil {
		return nil, err
	}
	return &FailureGuard{limit: l, buckets: local, blocked: blocked, now: time.Now}, nil
}

// Blocked reports whether addr is blocked now and for how long. It
// allocates nothing.
func (g *FailureGuard) Blocked(addr netip.Addr) (time.Duration, bool) {
	until, ok := g.blocked.GetIfPresent(addr)
	if !ok {
		return 0, false
	}
	wait := until.Sub(g.now())
	return wait, wait > 0
}

// Failed counts one failed check for addr and blocks the address when
// its failures exceed the limit.
func (g *FailureGuard) Failed(addr netip.Addr) {
	d, _ := g.buckets.Allow(context.Background(), addr.String(), g.limit)
	if !d.Allowed {
		g.blocked.Set(addr, g.now().Add(d.RetryAfter))
	}
}
