package proxy

import (
	"net/http"
	"strings"
	"time"

	"github.com/rs/cors"

	"github.com/keygate/keygate/config"
)

// CORS: a route's cors policy (its own, or its API set's) is one
// *cors.Cors of github.com/rs/cors, built when the route table is
// compiled (at load and reload), never per request.
//
// A preflight — OPTIONS with Origin and Access-Control-Request-Method and
// without Authorization, which browsers never put on one — is matched
// with the method it asks about, not with OPTIONS: the route that would
// serve that method answers it with its policy (204, with the
// Access-Control-Allow-* headers only for an allowed origin, method and
// headers), without authentication, and it is never proxied. A preflight
// for a method no route at the path serves, where a route there has a
// policy, is answered 204 with Allow and without Access-Control-Allow-*
// headers, so the browser refuses the call; where no route at the path
// has a policy, the preflight is an ordinary request (proxied to a route
// serving OPTIONS, or 405).
//
// Every other request matched to a route with a policy gets the CORS
// headers of an actual request (Access-Control-Allow-Origin and
// -Credentials, Access-Control-Expose-Headers; Vary: Origin always)
// before anything else happens, so keygate's own refusals (401, 403, 405,
// 429, 503...) carry them too and the page can read why. The upstream's
// own Access-Control-* headers are dropped from its answers on such a
// route: the policy is keygate's, and a second Access-Control-Allow-Origin
// would make the browser refuse the answer.

// newCORS compiles the policy p of the route rc.
func newCORS(p *config.CORS, rc *config.Route) *cors.Cors {
	return cors.New(cors.Options{
		AllowedOrigins:       p.AllowedOrigins,
		AllowedMethods:       p.MethodsFor(rc),
		AllowedHeaders:       p.AllowedHeaders,
		ExposedHeaders:       p.ExposedHeaders,
		MaxAge:               int(p.MaxAge / time.Second),
		AllowCredentials:     p.AllowCredentials,
		OptionsSuccessStatus: http.StatusNoContent,
	})
}

// isPreflight reports whether r is a browser's CORS preflight.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions &&
		len(r.Header["Origin"]) > 0 &&
		len(r.Header["Access-Control-Request-Method"]) > 0 &&
		len(r.Header["Authorization"]) == 0
}

// preflight answers a preflight for a route with a policy and returns the
// route, or returns nil when the preflight is an ordinary request (see
// above).
func (t *table) preflight(w http.ResponseWriter, r *http.Request, host, path string) *Route {
	want := r.Header["Access-Control-Request-Method"][0]
	if rt, _ := t.match(host, path, want); rt != nil {
		if rt.cors == nil {
			return nil
		}
		rt.cors.HandlerFunc(w, r) // the policy's headers, then 204
		return rt
	}
	rt, allow := t.policyAt(host, path)
	if rt == nil {
		return nil
	}
	h := w.Header()
	h["Vary"] = preflightVary
	h["Allow"] = []string{allow}
	w.WriteHeader(http.StatusNoContent)
	return rt
}

// preflightVary is what rs/cors puts on a preflight's answer.
var preflightVary = []string{"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}

// corsActual puts the CORS headers of an actual request for rt's policy
// on w. An OPTIONS with Access-Control-Request-Method that is not a
// preflight (it carries a credential) gets only Vary: rs/cors would take
// it for one.
func (rt *Route) corsActual(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions && len(r.Header["Access-Control-Request-Method"]) > 0 {
		w.Header().Add("Vary", "Origin")
		return
	}
	rt.cors.HandlerFunc(w, r)
}

// policyAt is the first route with a policy among those of the path's
// longest matching prefix (a host's routes first, as in match), and the
// methods served there for Allow; nil when none has a policy. It is on
// the slow path only: preflights and 405s.
func (t *table) policyAt(host, path string) (*Route, string) {
	routes, ok := routesAt(t.byHost[host], path)
	if !ok {
		routes, _ = routesAt(t.any, path)
	}
	var policy *Route
	allow := make([]string, 0, len(routes))
	for _, rt := range routes {
		if policy == nil && rt.cors != nil {
			policy = rt
		}
		allow = append(allow, rt.allow)
	}
	if policy == nil {
		return nil, ""
	}
	return policy, strings.Join(allow, ", ")
}

// routesAt is the routes of the longest prefix of path in m, as
// matchPrefix walks it.
func routesAt(m map[string][]*Route, path string) ([]*Route, bool) {
	if m == nil {
		return nil, false
	}
	p := path
	if len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	for {
		if routes, ok := m[p]; ok {
			return routes, true
		}
		if p == "/" {
			return nil, false
		}
		if i := strings.LastIndexByte(p, '/'); i == 0 {
			p = "/"
		} else {
			p = p[:i]
		}
	}
}

// stripUpstreamCORS is ModifyResponse on a route with a policy: it
// records the upstream's timing and drops the upstream's own CORS headers.
func stripUpstreamCORS(resp *http.Response) error {
	for _, k := range upstreamCORSHeaders {
		delete(resp.Header, k)
	}
	return markUpstreamResponse(resp)
}

var upstreamCORSHeaders = []string{
	"Access-Control-Allow-Origin",
	"Access-Control-Allow-Credentials",
	"Access-Control-Allow-Methods",
	"Access-Control-Allow-Headers",
	"Access-Control-Allow-Private-Network",
	"Access-Control-Expose-Headers",
	"Access-Control-Max-Age",
}
