package ratelimit

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/store"
)

// Quotas counts requests per credential per calendar day or month (UTC)
// in the store: one counter per credential, scope and period, created
// with a time to live until just after the period ends, so a new period
// starts at zero without any reset job. Counting is exact (one atomic
// increment per request in the store: in Redis a round trip; the
// embedded store keeps counters in memory, so they start again when
// keygate restarts).
type Quotas struct {
	counters store.Counters
	now      func() time.Time
}

// NewQuotas counts in c; now is the clock (nil: time.Now).
func NewQuotas(c store.Counters, now func() time.Time) *Quotas {
	if now == nil {
		now = time.Now
	}
	return &Quotas{counters: c, now: now}
}

// Period returns the id of the calendar period per (day or month, UTC)
// that holds t, and when it ends.
func Period(per string, t time.Time) (id string, end time.Time) {
	t = t.UTC()
	y, m, d := t.Date()
	if per == config.QuotaPerDay {
		return t.Format("2006-01-02"), time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
	}
	return t.Format("2006-01"), time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
}

func (q *Quotas) key(scope, credentialID, id string) string {
	return "quota/" + scope + "/" + credentialID + "/" + id
}

// Take counts one request of credentialID in scope (a route's or an API
// set's quota) and returns the count so far in this period and when the
// period ends.
func (q *Quotas) Take(ctx context.Context, scope, credentialID, per string) (int64, time.Time, error) {
	now := q.now()
	id, end := Period(per, now)
	n, err := q.counters.Incr(ctx, q.key(scope, credentialID, id), 1, end.Sub(now)+time.Hour)
	if err != nil {
		return 0, end, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return n, end, nil
}

// Give takes back one request that Take counted (one refused for being
// over the quota), so the count is of admitted requests.
func (q *Quotas) Give(ctx context.Context, scope, credentialID, per string) error {
	now := q.now()
	id, end := Period(per, now)
	if _, err := q.counters.Incr(ctx, q.key(scope, credentialID, id), -1, end.Sub(now)+time.Hour); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// QuotaUsage is one quota of a credential as the APIs show it.
type QuotaUsage struct {
	// Scope is "route:<name>" or "apiSet:<name>".
	Scope     string    `json:"scope"`
	Requests  int64     `json:"requests"`
	Per       string    `json:"per"`
	Used      int64     `json:"used"`
	Remaining int64     `json:"remaining"`
	ResetsAt  time.Time `json:"resetsAt"`
}

// Usage returns the quotas of cfg that count a credential with these API
// sets, with what it has used: own, if not nil, replaces the configured
// number of requests.
func (q *Quotas) Usage(ctx context.Context, cfg *config.Config, credentialID string, apiSets []string, own *int64) ([]QuotaUsage, error) {
	var out []QuotaUsage
	add := func(scope, show string, c *config.Quota) error {
		now := q.now()
		id, end := Period(c.Per, now)
		used, err := q.counters.Counter(ctx, q.key(scope, credentialID, id))
		if err != nil {
			return err
		}
		u := QuotaUsage{Scope: show, Requests: c.Requests, Per: c.Per, Used: used, ResetsAt: end}
		if own != nil {
			u.Requests = *own
		}
		u.Remaining = max(u.Requests-used, 0)
		out = append(out, u)
		return nil
	}
	for _, rt := range cfg.Routes {
		if rt.Quota != nil && slices.Contains(apiSets, rt.APISet) {
			if err := add(QuotaScopeRoute(rt.Name), "route:"+rt.Name, rt.Quota); err != nil {
				return nil, err
			}
		}
	}
	names := make([]string, 0, len(cfg.APISets))
	for name, set := range cfg.APISets {
		if set.Quota != nil && slices.Contains(apiSets, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if err := add(QuotaScopeAPISet(name), "apiSet:"+name, cfg.APISets[name].Quota); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// QuotaScopeRoute and QuotaScopeAPISet name the counters of a route's and
// an API set's quota.
func QuotaScopeRoute(name string) string  { return "r:" + name }
func QuotaScopeAPISet(name string) string { return "s:" + name }
