package proxy

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/keygate/keygate/internal/httpkit"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/ratelimit"
)

// QuotaCounter counts a credential's requests against a quota;
// *ratelimit.Quotas implements it.
type QuotaCounter interface {
	Take(ctx context.Context, scope, credentialID, per string) (used int64, periodEnd time.Time, err error)
	// Give takes back one request Take counted (a refused one).
	Give(ctx context.Context, scope, credentialID, per string) error
}

// routeQuota is a compiled quota: a route's own, or its API set's.
type routeQuota struct {
	cfg   config.Quota
	scope string // the counter's scope (ratelimit.QuotaScope*)
}

var errStoreQuota = &httpkit.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "The quota cannot be checked right now; try again shortly.", RetryAfter: 1}

// quota is step 6c: each quota of the route and its API set counts the
// request of a verified credential; past one, 429 until its period ends.
// Anonymous requests are not counted.
func (h *Handler) quota(r *http.Request, rt *Route, ex *exchange) *httpkit.Error {
	if ex.identity == nil {
		return nil
	}
	for _, q := range [2]*routeQuota{rt.quota, rt.setQuota} {
		if q == nil {
			continue
		}
		limit := q.cfg.Requests
		if own := ex.identity.Quota; own != nil {
			limit = *own
		}
		used, end, err := h.quotas.Take(r.Context(), q.scope, ex.identity.CredentialID, q.cfg.Per)
		if err != nil {
			if r.Context().Err() != nil {
				return errStoreQuota // the client went away
			}
			if ce := h.log.Check(zapcore.WarnLevel, "quota store unavailable"); ce != nil {
				ce.Write(zap.String("route", rt.Name), zap.String("policy", q.cfg.OnStoreError), zap.Error(err))
			}
			if q.cfg.OnStoreError == config.OnErrorFailOpen {
				continue
			}
			return errStoreQuota
		}
		if used > limit {
			// Refused requests do not count: the counter stays the number
			// admitted (best effort; a lost decrement only over-counts).
			_ = h.quotas.Give(context.WithoutCancel(r.Context()), q.scope, ex.identity.CredentialID, q.cfg.Per)
			return &httpkit.Error{Status: http.StatusTooManyRequests, Code: "quota_exceeded",
				Description: fmt.Sprintf("The credential's quota of %d requests per %s is used up; it resets at %s.", limit, q.cfg.Per, end.Format(time.RFC3339)),
				RetryAfter:  httpkit.CeilSeconds(time.Until(end))}
		}
	}
	return nil
}

// noQuotas refuses every quota'd request: a Handler built without a
// QuotaCounter cannot count.
type noQuotas struct{}

func (noQuotas) Take(context.Context, string, string, string) (int64, time.Time, error) {
	return 0, time.Time{}, fmt.Errorf("%w: no quota counter", ratelimit.ErrUnavailable)
}

func (noQuotas) Give(context.Context, string, string, string) error { return nil }
