package proxy

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/rs/cors"

	"github.com/keygate/keygate/internal/httpkit"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/ratelimit"
)

// Route is one compiled entry of the route table. It is immutable once
// built and shared by every request that matches it.
type Route struct {
	// Name, APISet and Auth as configured.
	Name   string
	APISet string
	Auth   string

	cfg         config.Route
	prefix      string
	methods     map[string]bool // nil: any method
	allow       string          // Allow header for 405
	target      *url.URL        // nil: a route for forward auth only (no upstream)
	targetPath  string          // upstream path without its trailing "/"
	stripPrefix bool
	timeout     time.Duration
	proxy       *httputil.ReverseProxy
	metrics     routeMetrics
	limit       *routeLimit // nil: no rate limit of its own
	setLimit    *routeLimit // its API set's; nil: none
	quota       *routeQuota // nil: no quota of its own
	setQuota    *routeQuota // its API set's; nil: none
	identity    identitySet // the identity headers sent upstream
	override    string      // method_override, canonical; "" for none
	cors        *cors.Cors  // its own or its API set's policy; nil: none (see cors.go)
}

// RequiredScope is the scope a request with method needs on this route.
func (rt *Route) RequiredScope(method string) string { return rt.cfg.RequiredScope(method) }

// scopeError is the 403 for a credential without the API set or scope the
// route needs (RFC 6750 §3.1 insufficient_scope). The challenge's scope
// attribute names only a scope a token request could ask for (isScope:
// the method's read or write); a missing API set is no OAuth scope (a
// client's API sets are its resourceIds), so it is left out.
func (rt *Route) scopeError(missing string, isScope bool) *httpkit.Error {
	challenge := `Bearer realm="keygate", error="insufficient_scope"`
	if isScope {
		challenge += `, scope="` + missing + `"`
	}
	return &httpkit.Error{
		Status:      http.StatusForbidden,
		Code:        "insufficient_scope",
		Description: "The credential does not allow this request.",
		Challenge:   []string{challenge},
	}
}

// table maps a request to a route: host first (a route with a host beats
// one without), then the longest path prefix on a segment boundary, then
// the method.
type table struct {
	byHost map[string]map[string][]*Route // host → prefix → routes
	any    map[string][]*Route            // prefix → routes, any host
	routes []*Route
	cors   bool // some route has a cors policy
}

func compileTable(cfg *config.Config, sockets map[string]string, build func(*Route) error) (*table, error) {
	t := &table{byHost: map[string]map[string][]*Route{}, any: map[string][]*Route{}}
	for i := range cfg.Routes {
		rc := cfg.Routes[i]
		target := rc.UpstreamURL() // parsed by config's Validate
		if target == nil && rc.Upstream != "" {
			return nil, fmt.Errorf("routes[%d].upstream: not parsed (the config was not validated)", i)
		}
		if target != nil && target.Scheme == "unix" {
			// The shared Transport dials the socket for this host name.
			host := "unix-" + rc.Name
			sockets[host+":80"] = target.Path
			target = &url.URL{Scheme: "http", Host: host}
		}
		rt := &Route{
			Name:        rc.Name,
			APISet:      rc.APISet,
			Auth:        rc.Auth,
			cfg:         rc,
			prefix:      rc.PathPrefix,
			target:      target,
			stripPrefix: rc.StripPrefix,
			timeout:     rc.Timeout,
			identity:    newIdentitySet(cfg.Auth.UpstreamIdentity),
			override:    rc.MethodOverride,
		}
		if target != nil {
			rt.targetPath = strings.TrimSuffix(target.EscapedPath(), "/")
		}
		if rl := rc.RateLimit; rl != nil {
			rt.limit = newRouteLimit(rl, rc.Name)
		}
		if rl := cfg.APISets[rc.APISet].RateLimit; rc.APISet != "" && rl != nil {
			rt.setLimit = newRouteLimit(rl, "set:"+rc.APISet)
		}
		if q := rc.Quota; q != nil {
			rt.quota = &routeQuota{cfg: *q, scope: ratelimit.QuotaScopeRoute(rc.Name)}
		}
		if q := cfg.APISets[rc.APISet].Quota; rc.APISet != "" && q != nil {
			rt.setQuota = &routeQuota{cfg: *q, scope: ratelimit.QuotaScopeAPISet(rc.APISet)}
		}
		if p := cfg.CORSFor(i); p != nil {
			rt.cors = newCORS(p, &rc)
			t.cors = true
		}
		if len(rc.Methods) > 0 {
			rt.methods = make(map[string]bool, len(rc.Methods)+1)
			for _, m := range rc.Methods {
				rt.methods[m] = true
			}
			if rt.methods[http.MethodGet] {
				rt.methods[http.MethodHead] = true
			}
			rt.allow = strings.Join(rc.Methods, ", ")
		}
		if err := build(rt); err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
		m := t.any
		if rc.Host != "" {
			if m = t.byHost[rc.Host]; m == nil {
				m = map[string][]*Route{}
				t.byHost[rc.Host] = m
			}
		}
		m[rc.PathPrefix] = append(m[rc.PathPrefix], rt)
		t.routes = append(t.routes, rt)
	}
	return t, nil
}

// match finds the route for a canonical path. A nil route with allow set
// means the path matched but the method did not (405); a nil route with an
// empty allow means nothing matched (404).
func (t *table) match(host, path, method string) (rt *Route, allow string) {
	if len(t.byHost) > 0 {
		if m := t.byHost[host]; m != nil {
			if rt, allow, ok := matchPrefix(m, path, method); ok {
				return rt, allow
			}
		}
	}
	rt, allow, _ = matchPrefix(t.any, path, method)
	return rt, allow
}

// matchPrefix tries path and each of its segment-boundary prefixes, longest
// first: for "/a/b/c" it looks up "/a/b/c", "/a/b", "/a" and "/". The cost
// is one map look-up per segment, whatever the number of routes.
func matchPrefix(m map[string][]*Route, path, method string) (*Route, string, bool) {
	p := path
	if len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	for {
		if routes, ok := m[p]; ok {
			var allow []string
			for _, rt := range routes {
				if rt.methods == nil || rt.methods[method] {
					return rt, "", true
				}
				allow = append(allow, rt.allow)
			}
			return nil, strings.Join(allow, ", "), true
		}
		if p == "/" {
			return nil, "", false
		}
		i := strings.LastIndexByte(p, '/')
		if i == 0 {
			p = "/"
		} else {
			p = p[:i]
		}
	}
}

// upstreamPath is the escaped path the upstream receives for a canonical
// request path matched by rt: the prefix stripped if configured, under
// the upstream URL's own path.
func (rt *Route) upstreamPath(path string) string {
	if rt.stripPrefix && rt.prefix != "/" {
		path = path[len(rt.prefix):]
		if path == "" {
			path = "/"
		}
	}
	if rt.targetPath == "" {
		return path
	}
	return rt.targetPath + path
}
