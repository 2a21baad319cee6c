package config

import (
	"fmt"
	"maps"
	"slices"
)

// APISet is the configuration of one API set, shared by every route that
// names it in api_set.
type APISet struct {
	// RateLimit, if set, limits the requests to all the set's routes
	// together (one bucket per key across them), on top of each route's
	// own rate_limit: a request must pass both. Key route means one
	// bucket for everyone's requests to the set.
	RateLimit *RateLimit `yaml:"rate_limit"`
	// Quota, if set, counts each credential's requests to all the set's
	// routes together, on top of each route's own quota.
	Quota *Quota `yaml:"quota"`
	// CORS is the policy of the set's routes that have no cors of their
	// own. Default none (see docs/cors.md).
	CORS *CORS `yaml:"cors"`
}

// check adds rl's problems under path.
func (rl *RateLimit) check(v *problems, path string, authNone bool) {
	f := func(name string) string { return path + "." + name }
	if rl.Rate < 1 {
		v.add(f("rate"), "required: a positive number of requests per "+path+".per")
	}
	if rl.Per <= 0 {
		v.add(f("per"), "must be a positive duration such as 1s")
	}
	if rl.Burst < 1 {
		v.add(f("burst"), "must be at least 1")
	}
	switch rl.Key {
	case LimitByCredential, LimitByUser:
		if authNone {
			v.add(f("key"), fmt.Sprintf("%q needs a credential: use address or route on a route with auth none", rl.Key))
		}
	case LimitByRoute, LimitByAddress:
	default:
		v.add(f("key"), fmt.Sprintf("%q is not one of credential, user, route, address", rl.Key))
	}
	switch rl.OnStoreError {
	case OnErrorLocal, OnErrorFailOpen, OnErrorFailClosed:
	default:
		v.add(f("on_store_error"), fmt.Sprintf("%q is not one of local, fail_open, fail_closed", rl.OnStoreError))
	}
	if rl.Mode != LimitExact && rl.Mode != LimitFast {
		v.add(f("mode"), fmt.Sprintf("%q is not one of fast, exact", rl.Mode))
	}
	if rl.Batch < 0 || rl.Batch > max(rl.Burst, 1) {
		v.add(f("batch"), "must be between 0 (adaptive) and "+path+".burst")
	}
}

func (c *Config) validateAPISets(v *problems) {
	for _, name := range slices.Sorted(maps.Keys(c.APISets)) { // problems in a stable order
		path := "api_sets." + name
		if !setName.MatchString(name) {
			v.add(path, "not an API set name: use 1 to 64 of A-Z, a-z, 0-9, _, . and -")
			continue
		}
		if !slices.ContainsFunc(c.Routes, func(rt Route) bool { return rt.APISet == name }) {
			v.add(path, "no route has this api_set")
		}
		if rl := c.APISets[name].RateLimit; rl != nil {
			rl.check(v, path+".rate_limit", false)
		}
		if q := c.APISets[name].Quota; q != nil {
			q.check(v, path+".quota")
		}
		if p := c.APISets[name].CORS; p != nil {
			p.check(v, path+".cors")
		}
	}
}

// Quota periods: calendar days and months in UTC.
const (
	QuotaPerDay   = "day"
	QuotaPerMonth = "month"
)

// Quota is a number of requests per credential per calendar day or month
// (UTC), counted exactly in the store; past it, 429 until the period
// ends. Anonymous requests are not counted.
type Quota struct {
	// Requests allowed per period. Required. A credential's own quota,
	// set through the admin API, replaces it.
	Requests int64 `yaml:"requests"`
	// Per is day or month (default).
	Per string `yaml:"per"`
	// OnStoreError is what happens while the store cannot count:
	// fail_closed (default: 503) or fail_open (allow).
	OnStoreError string `yaml:"on_store_error"`
}

func (q *Quota) check(v *problems, path string) {
	if q.Requests < 1 {
		v.add(path+".requests", "required: a positive number of requests per "+path+".per")
	}
	if q.Per != QuotaPerDay && q.Per != QuotaPerMonth {
		v.add(path+".per", fmt.Sprintf("%q is not one of day, month", q.Per))
	}
	if q.OnStoreError != OnErrorFailClosed && q.OnStoreError != OnErrorFailOpen {
		v.add(path+".on_store_error", fmt.Sprintf("%q is not one of fail_closed, fail_open", q.OnStoreError))
	}
}
