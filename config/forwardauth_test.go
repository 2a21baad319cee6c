package config

import (
	"testing"
)

// TestForwardAuthConfig: forward_auth's defaults, its need of
// trusted_proxies, the endpoints that may not overlap routes or the front
// ends, and routes without an upstream only while it is on.
func TestForwardAuthConfig(t *testing.T) {
	const noUpstream = "routes:\n  - {name: api, path_prefix: /api, api_set: s}\n"
	const trusted = "trusted_proxies: [10.0.0.0/8]\n"
	t.Run("defaults", func(t *testing.T) {
		cfg, err := Parse("t.yaml", []byte(trusted+"forward_auth: {enabled: true}\n"+noUpstream), nil)
		if err != nil {
			t.Fatal(err)
		}
		if f := cfg.ForwardAuth; f.Path != DefaultForwardAuthPath || f.EnvoyPrefix != "" || f.GRPCListen != "" {
			t.Errorf("got %+v, want path %s and the rest off", f, DefaultForwardAuthPath)
		}
		if cfg.Routes[0].UpstreamURL() != nil {
			t.Errorf("a route without upstream has URL %v", cfg.Routes[0].UpstreamURL())
		}
	})
	for _, tt := range []struct {
		name, yaml string
		want       string // "" means valid
	}{
		{"on", trusted + "forward_auth: {enabled: true, path: /auth/, envoy_prefix: /envoy, grpc_listen: 127.0.0.1:9191}\n" + oneRoute, ""},
		{"no upstream while off", noUpstream, "routes[0].upstream: required"},
		{"no trusted proxies", "forward_auth: {enabled: true}\n" + oneRoute, "forward_auth.enabled: needs trusted_proxies"},
		{"path overlaps a route", trusted + "forward_auth: {enabled: true, path: /api/auth}\n" + oneRoute, `forward_auth.path: "/api/auth" overlaps routes[0].path_prefix "/api"`},
		{"path is /", trusted + "forward_auth: {enabled: true, path: /}\n" + oneRoute, `forward_auth.path: must not be "/"`},
		{"path relative", trusted + "forward_auth: {enabled: true, path: auth}\n" + oneRoute, `forward_auth.path: "auth" must start with /`},
		{"envoy prefix overlaps the path", trusted + "forward_auth: {enabled: true, envoy_prefix: /_keygate}\n" + oneRoute, `forward_auth.envoy_prefix: "/_keygate" overlaps forward_auth.path`},
		{"self-service", trusted + "self_service: {enabled: true}\nforward_auth: {enabled: true, envoy_prefix: /oauth/check}\n" + oneRoute, "forward_auth.envoy_prefix: \"/oauth/check\" overlaps the self-service API"},
		{"grpc not host:port", trusted + "forward_auth: {enabled: true, grpc_listen: nine}\n" + oneRoute, `forward_auth.grpc_listen: "nine" is not host:port`},
		{"grpc while off", "forward_auth: {grpc_listen: 127.0.0.1:9191}\n" + oneRoute, "forward_auth.grpc_listen: needs forward_auth.enabled: true"},
		{"unknown field", "forward_auth: {enable: true}\n" + oneRoute, "unknown field"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.yaml), nil)
			checkProblem(t, err, tt.want)
		})
	}
}
