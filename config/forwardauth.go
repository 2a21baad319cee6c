package config

import (
	"fmt"
	"strings"
)

// ForwardAuth makes keygate the authorization service of an ingress that
// already runs (nginx auth_request, Traefik and Caddy forward auth, Envoy
// and Istio ext_authz): the ingress asks whether a request may pass and
// keygate decides it as if the request had come to it, without proxying
// anything. See docs/forward-auth.md.
type ForwardAuth struct {
	// Enabled serves the check endpoint at Path on the public listener
	// (and at EnvoyPrefix, if set). Default false. It needs
	// trusted_proxies: only the ingress's addresses may ask, and their
	// X-Forwarded-* and X-Original-* headers are what is checked; anyone
	// else is answered 400. While it is on, routes may have no upstream:
	// such a route is checked for the ingress and answers 404 when a
	// request comes to keygate itself.
	Enabled bool `yaml:"enabled"`
	// Path is the check endpoint for nginx auth_request, Traefik and
	// Caddy forward auth: the original request is read from
	// X-Forwarded-Method, X-Forwarded-Proto, X-Forwarded-Host and
	// X-Forwarded-Uri, or X-Original-Method with X-Original-URI or
	// X-Original-URL. Default "/_keygate/auth"; routes may not overlap it.
	Path string `yaml:"path"`
	// EnvoyPrefix is the check endpoint for Envoy's ext_authz HTTP
	// service mode (path_prefix): the original request is the check
	// request itself, its method, Host and the path after this prefix.
	// Default none (off); routes may not overlap it.
	EnvoyPrefix string `yaml:"envoy_prefix"`
	// GRPCListen serves the Envoy ext_authz v3 gRPC service
	// (envoy.service.auth.v3.Authorization/Check) on its own listener,
	// host:port, for Envoy, Envoy Gateway and Istio. Default none (off).
	// Only peers in trusted_proxies are answered.
	GRPCListen string `yaml:"grpc_listen"`
}

// On reports whether forward auth is served.
func (f ForwardAuth) On() bool { return f.Enabled }

// applyDefaults fills the forward_auth section.
func (f *ForwardAuth) applyDefaults() {
	setDefault(&f.Path, DefaultForwardAuthPath)
	if len(f.Path) > 1 {
		f.Path = strings.TrimSuffix(f.Path, "/")
	}
	if len(f.EnvoyPrefix) > 1 {
		f.EnvoyPrefix = strings.TrimSuffix(f.EnvoyPrefix, "/")
	}
}

// validateForwardAuth checks the forward_auth section and, while it is
// on, that no route, self-service path or account page overlaps its
// endpoints.
func (c *Config) validateForwardAuth(v *problems) {
	f := c.ForwardAuth
	if !f.On() {
		if f.GRPCListen != "" {
			v.add("forward_auth.grpc_listen", "needs forward_auth.enabled: true")
		}
		if f.EnvoyPrefix != "" {
			v.add("forward_auth.envoy_prefix", "needs forward_auth.enabled: true")
		}
		return
	}
	if len(c.TrustedProxies) == 0 {
		v.add("forward_auth.enabled", "needs trusted_proxies: the ingress's addresses, the only ones whose check requests are answered")
	}
	endpoints := []struct{ field, path string }{{"forward_auth.path", f.Path}}
	if f.EnvoyPrefix != "" {
		endpoints = append(endpoints, struct{ field, path string }{"forward_auth.envoy_prefix", f.EnvoyPrefix})
	}
	for _, e := range endpoints {
		if err := checkPathPrefix(e.path); err != nil {
			v.add(e.field, err.Error())
			continue
		}
		if e.path == "/" {
			v.add(e.field, `must not be "/": it would take every request of the public listener`)
			continue
		}
		for i, rt := range c.Routes {
			if checkPathPrefix(rt.PathPrefix) == nil && pathsOverlap(rt.PathPrefix, e.path) && rt.PathPrefix != "/" {
				v.add(e.field, fmt.Sprintf("%q overlaps routes[%d].path_prefix %q", e.path, i, rt.PathPrefix))
			}
		}
		if c.SelfService.On() {
			for _, p := range SelfServicePaths {
				if pathsOverlap(e.path, p) {
					v.add(e.field, fmt.Sprintf("%q overlaps the self-service API at %s", e.path, p))
				}
			}
		}
		if c.Account.On() && pathsOverlap(e.path, c.Account.Path) {
			v.add(e.field, fmt.Sprintf("%q overlaps the account pages at %s", e.path, c.Account.Path))
		}
	}
	if f.EnvoyPrefix != "" && checkPathPrefix(f.Path) == nil && checkPathPrefix(f.EnvoyPrefix) == nil && pathsOverlap(f.Path, f.EnvoyPrefix) {
		v.add("forward_auth.envoy_prefix", fmt.Sprintf("%q overlaps forward_auth.path %q", f.EnvoyPrefix, f.Path))
	}
	if f.GRPCListen != "" {
		v.addr("forward_auth.grpc_listen", f.GRPCListen)
		if (f.GRPCListen == c.Listen || f.GRPCListen == c.AdminListen || f.GRPCListen == c.HealthListen) && !strings.HasSuffix(f.GRPCListen, ":0") {
			v.add("forward_auth.grpc_listen", "must differ from listen, admin_listen and health_listen")
		}
	}
}
