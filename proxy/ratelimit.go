package proxy

import (
	"net/http"
	"strconv"
	"time"

	"github.com/keygate/keygate/internal/httpkit"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/ratelimit"
)

// routeLimit is a compiled rate limit: a route's own, or its API set's.
type routeLimit struct {
	cfg     config.RateLimit
	limit   ratelimit.Limit
	burst   []string // RateLimit-Limit's value, shared
	keyHead string   // "<route>|<key kind>:" or "set:<api set>|<key kind>:" before the key's value
	addrKey string   // keyHead's address form, for anonymous requests
}

func newRouteLimit(rl *config.RateLimit, scope string) *routeLimit {
	return &routeLimit{
		cfg:     *rl,
		limit:   ratelimit.Limit{Rate: rl.Rate, Per: rl.Per, Burst: rl.Burst, Fast: rl.Mode == config.LimitFast, Batch: rl.Batch},
		burst:   []string{strconv.Itoa(rl.Burst)},
		keyHead: scope + "|" + rl.Key + ":",
		addrKey: scope + "|address:",
	}
}

// Rate-limit outcomes, the values of keygate_ratelimit_decisions_total's
// result.
const (
	limitAllowed  = "allowed"
	limitLimited  = "limited"
	limitDegraded = "degraded" // decided by the in-process fallback
	limitOpen     = "fail_open"
	limitClosed   = "fail_closed"
)

var errStoreLimit = &httpkit.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "The rate limit cannot be checked right now; try again shortly.", RetryAfter: 1}

// rateLimit is step 6b: the route's own limit, then its API set's, each
// counted per credential, user, route (or set) or client address. It
// answers 429 with Retry-After and the RateLimit-* headers past a limit,
// and follows on_store_error while the shared limiter cannot be reached.
// The headers on an allowed request are those of the limit with the
// fewest requests left.
func (h *Handler) rateLimit(w http.ResponseWriter, r *http.Request, rt *Route, ex *exchange) *httpkit.Error {
	var shown ratelimit.Decision
	var shownLimit *routeLimit
	for _, rl := range [2]*routeLimit{rt.limit, rt.setLimit} {
		if rl == nil {
			continue
		}
		d, decided, e := h.decide(r, rt, rl, ex)
		if e != nil {
			return e
		}
		if !decided { // fail_open
			continue
		}
		if !d.Allowed {
			writeLimitHeaders(w.Header(), rl, d)
			rt.metrics.limits[limitLimited].Inc()
			return &httpkit.Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Description: "Too many requests; retry later.", RetryAfter: httpkit.CeilSeconds(d.RetryAfter)}
		}
		if rl.cfg.HeadersOn() && (shownLimit == nil || d.Remaining < shown.Remaining) {
			shown, shownLimit = d, rl
		}
	}
	if shownLimit != nil {
		writeLimitHeaders(w.Header(), shownLimit, shown)
	}
	return nil
}

// decide takes one limit's decision. decided is false when the limit was
// skipped (fail_open while the limiter is down); a non-nil *httpkit.Error is the
// answer (fail_closed).
func (h *Handler) decide(r *http.Request, rt *Route, rl *routeLimit, ex *exchange) (ratelimit.Decision, bool, *httpkit.Error) {
	lim := rl.limit
	var subject string
	switch rl.cfg.Key {
	case config.LimitByCredential:
		if ex.identity != nil {
			subject = ex.identity.CredentialID
			override(&lim, ex.identity.CredentialRate)
		}
	case config.LimitByUser:
		if ex.identity != nil {
			subject = ex.identity.User
			override(&lim, ex.identity.UserRate)
		}
	case config.LimitByRoute:
		subject = "-"
	}
	head := rl.keyHead
	if subject == "" { // address, or an anonymous request on an optional route
		head, subject = rl.addrKey, ex.client.String()
	}
	key := head + subject

	d, err := h.limiter.Allow(r.Context(), key, lim)
	if err != nil && r.Context().Err() != nil {
		return d, false, errStoreLimit // the client went away meanwhile: not the store's failure, and nobody reads this
	}
	if err != nil {
		h.metrics.setLimitDegraded(true)
		if ce := h.log.Check(zapcore.WarnLevel, "rate limit backend unavailable"); ce != nil {
			ce.Write(zap.String("route", rt.Name), zap.String("policy", rl.cfg.OnStoreError), zap.Error(err))
		}
		switch rl.cfg.OnStoreError {
		case config.OnErrorFailOpen:
			rt.metrics.limits[limitOpen].Inc()
			return d, false, nil
		case config.OnErrorFailClosed:
			rt.metrics.limits[limitClosed].Inc()
			return d, false, errStoreLimit
		}
		if d, err = h.local.Allow(r.Context(), key, lim); err != nil {
			return d, false, errStoreLimit
		}
		if d.Allowed {
			rt.metrics.limits[limitDegraded].Inc()
		}
		return d, true, nil
	}
	h.metrics.setLimitDegraded(d.Degraded) // fast mode: spending a lease while Redis is down
	if d.Allowed {
		rt.metrics.limits[limitAllowed].Inc()
	}
	return d, true, nil
}

// override puts a credential's or user's own rate limit in place of the
// configured one.
func override(l *ratelimit.Limit, own *authz.Rate) {
	if own != nil {
		l.Rate, l.Per, l.Burst = own.Rate, own.Per, own.Burst
		l.Batch = min(l.Batch, own.Burst)
	}
}

func writeLimitHeaders(hdr http.Header, rl *routeLimit, d ratelimit.Decision) {
	if d.Limit == rl.limit.Burst {
		hdr["Ratelimit-Limit"] = rl.burst
	} else {
		hdr["Ratelimit-Limit"] = []string{strconv.Itoa(d.Limit)} // an override
	}
	hdr["Ratelimit-Remaining"] = []string{strconv.Itoa(d.Remaining)}
	hdr["Ratelimit-Reset"] = []string{strconv.Itoa(ceilSeconds(d.ResetAfter))}
}

func ceilSeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}
