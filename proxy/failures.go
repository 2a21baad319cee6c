package proxy

import (
	"net/http"
	"net/netip"

	"github.com/keygate/keygate/internal/httpkit"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/ratelimit"
)

// failureGuard answers 429 to a client address that has failed too many
// credential checks, before its next credential is looked at (see
// ratelimit.FailureGuard).
type failureGuard struct {
	*ratelimit.FailureGuard[netip.Addr]
}

var errTooManyFailures = &httpkit.Error{Status: http.StatusTooManyRequests, Code: "too_many_requests",
	Description: "Too many failed credential checks from this address; retry later."}

func newFailureGuard(c config.FailureLimit) (*failureGuard, error) {
	if !c.On() {
		return nil, nil
	}
	g, err := ratelimit.NewFailureGuard(ratelimit.Limit{Rate: c.Rate, Per: c.Per, Burst: c.Burst})
	if err != nil {
		return nil, err
	}
	return &failureGuard{g}, nil
}

// check returns the 429 for a blocked address, or nil.
func (g *failureGuard) check(addr netip.Addr) *httpkit.Error {
	wait, blocked := g.Blocked(addr)
	if !blocked {
		return nil
	}
	e := *errTooManyFailures
	e.RetryAfter = httpkit.CeilSeconds(wait)
	return &e
}

// failed counts one failed credential check for addr.
func (g *failureGuard) failed(addr netip.Addr) { g.Failed(addr) }
