package proxy

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/ratelimit"
)

// failureGuard answers 429 to a client address that has failed too many
// credential checks, before its next credential is looked at. It is per
// replica and in process: its job is to make a guessing flood cheap, not
// to count exactly.
type failureGuard struct {
	limit   ratelimit.Limit
	buckets *ratelimit.Local
	blocked *otter.Cache[netip.Addr, time.Time] // until when
	now     func() time.Time
}

var errTooManyFailures = &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests",
	Description: "Too many failed credential checks from this address; retry later."}

func newFailureGuard(c config.FailureLimit) (*failureGuard, error) {
	if !c.On() {
		return nil, nil
	}
	local, err := ratelimit.NewLocal(100_000, nil)
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
	return &failureGuard{limit: ratelimit.Limit{Rate: c.Rate, Per: c.Per, Burst: c.Burst}, buckets: local, blocked: blocked, now: time.Now}, nil
}

// check returns the 429 for a blocked address, or nil. It allocates
// nothing.
func (g *failureGuard) check(addr netip.Addr) *Error {
	until, ok := g.blocked.GetIfPresent(addr)
	if !ok {
		return nil
	}
	wait := until.Sub(g.now())
	if wait <= 0 {
		return nil
	}
	e := *errTooManyFailures
	e.RetryAfter = max(ceilSeconds(wait), 1)
	return &e
}

// failed counts one failed credential check for addr, and blocks the
// address when its failures exceed the limit.
func (g *failureGuard) failed(addr netip.Addr) {
	d, _ := g.buckets.Allow(context.Background(), addr.String(), g.limit)
	if !d.Allowed {
		g.blocked.Set(addr, g.now().Add(d.RetryAfter))
	}
}
