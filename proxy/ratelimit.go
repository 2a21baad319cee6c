package proxy

import (
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/ratelimit"
)

// routeLimit is a route's compiled rate limit.
type routeLimit struct {
	cfg     config.RateLimit
	limit   ratelimit.Limit
	burst   []string // RateLimit-Limit's value, shared
	keyHead string   // "<route>|<key kind>:" before the key's value
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

var errStoreLimit = &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "The rate limit cannot be checked right now; try again shortly.", RetryAfter: 1}

// rateLimit is step 6b: the route's limit, counted per credential, user,
// route or client address. It answers 429 with Retry-After and the
// RateLimit-* headers past the limit, and follows on_store_error while
// the shared limiter cannot be reached.
func (h *Handler) rateLimit(w http.ResponseWriter, r *http.Request, rt *Route, ex *exchange) *Error {
	rl := rt.limit
	var subject string
	switch rl.cfg.Key {
	case config.LimitByCredential:
		if ex.identity != nil {
			subject = ex.identity.CredentialID
		}
	case config.LimitByUser:
		if ex.identity != nil {
			subject = ex.identity.User
		}
	case config.LimitByRoute:
		subject = "-"
	}
	head := rl.keyHead
	if subject == "" { // address, or an anonymous request on an optional route
		head, subject = rt.Name+"|address:", ex.client.String()
	}
	key := head + subject

	d, err := h.limiter.Allow(r.Context(), key, rl.limit)
	result := limitAllowed
	if err != nil && r.Context().Err() != nil {
		return errStoreLimit // the client went away meanwhile: not the store's failure, and nobody reads this
	}
	if err != nil {
		h.metrics.setLimitDegraded(true)
		if ce := h.log.Check(zapcore.WarnLevel, "rate limit backend unavailable"); ce != nil {
			ce.Write(zap.String("route", rt.Name), zap.String("policy", rl.cfg.OnStoreError), zap.Error(err))
		}
		switch rl.cfg.OnStoreError {
		case config.OnErrorFailOpen:
			rt.metrics.limits[limitOpen].Inc()
			return nil
		case config.OnErrorFailClosed:
			rt.metrics.limits[limitClosed].Inc()
			return errStoreLimit
		}
		if d, err = h.local.Allow(r.Context(), key, rl.limit); err != nil {
			return errStoreLimit
		}
		result = limitDegraded
	} else {
		h.metrics.setLimitDegraded(d.Degraded) // fast mode: spending a lease while Redis is down
	}

	hdr := w.Header()
	if !d.Allowed || rl.cfg.HeadersOn() {
		hdr["Ratelimit-Limit"] = rl.burst
		hdr["Ratelimit-Remaining"] = []string{strconv.Itoa(d.Remaining)}
		hdr["Ratelimit-Reset"] = []string{strconv.Itoa(ceilSeconds(d.ResetAfter))}
	}
	if !d.Allowed {
		rt.metrics.limits[limitLimited].Inc()
		return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Description: "Too many requests; retry later.", RetryAfter: max(ceilSeconds(d.RetryAfter), 1)}
	}
	rt.metrics.limits[result].Inc()
	return nil
}

func ceilSeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}
