package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCORSValidation(t *testing.T) {
	y := `
routes:
  - name: a
    path_prefix: /a
    upstream: http://h
    api_set: s
    cors:
      allowed_origins: ["*"]
      allow_credentials: true
      allowed_methods: [GET, FETCH]
      allowed_headers: ["bad header"]
      exposed_headers: ["x:y"]
      max_age: 1500ms
  - name: b
    path_prefix: /b
    upstream: http://h
    api_set: t
    cors:
      allowed_origins:
        - https://app.example.com/
        - ftp://files.example.com
        - https://*.com
        - https://app.*.example.com
        - https://*.example.com:99999
        - https://App.Example.COM:8443
        - http://[::1]:3000
        - "null"
  - {name: c, path_prefix: /c, upstream: http://h, api_set: u, cors: {}}
api_sets:
  s: {cors: {allowed_origins: ["*", "https://x.example.com"], max_age: 48h}}
`
	refusedOnce(t, y, "bad cors policies were accepted",
		`routes[0].cors.allowed_origins[0]: "*" is not allowed with allow_credentials: true`,
		`routes[0].cors.allowed_methods[1]: "FETCH" is not one of`,
		`routes[0].cors.allowed_headers[0]: "bad header" is not a header name`,
		`routes[0].cors.exposed_headers[0]: "x:y" is not a header name`,
		"routes[0].cors.max_age: must be whole seconds between 1s and 24h",
		`routes[1].cors.allowed_origins[0]: "https://app.example.com/": an origin is scheme://host[:port] without a path`,
		`routes[1].cors.allowed_origins[1]: "ftp://files.example.com": an origin is`,
		`routes[1].cors.allowed_origins[2]: "https://*.com": the wildcard would cover a whole top-level domain`,
		`routes[1].cors.allowed_origins[3]: "https://app.*.example.com": a wildcard only as the whole first label`,
		`routes[1].cors.allowed_origins[4]: "https://*.example.com:99999": the port must be`,
		`routes[1].cors.allowed_origins[7]: "null": an origin is`,
		"routes[2].cors.allowed_origins: required",
		`api_sets.s.cors.allowed_origins[0]: "*" allows every origin: list it alone`,
		"api_sets.s.cors.max_age: must be whole seconds between 1s and 24h",
	)
	_, err := Parse("t.yaml", []byte(y), nil)
	if n := strings.Count(err.Error(), "\n") + 1; n != 14 {
		t.Errorf("%d problems, want 14 (the mixed-case and IPv6 origins are fine):\n%v", n, err)
	}
}

func TestCORSDefaultsAndInheritance(t *testing.T) {
	cfg, err := Parse("t.yaml", []byte(`
routes:
  - {name: own, path_prefix: /own, upstream: http://h, api_set: s, methods: [GET, POST],
     cors: {allowed_origins: ["https://App.example.com"]}}
  - {name: inherited, path_prefix: /inh, upstream: http://h, api_set: s}
  - {name: none, path_prefix: /none, upstream: http://h, api_set: other}
api_sets:
  s: {cors: {allowed_origins: ["https://*.example.com"], allowed_methods: [get], max_age: 1h, allowed_headers: [X-Custom]}}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	own := cfg.CORSFor(0)
	if own != cfg.Routes[0].CORS || own.AllowedOrigins[0] != "https://app.example.com" {
		t.Errorf("routes[0] policy: %+v, want its own, origins lower-cased", own)
	}
	if own.MaxAge != DefaultCORSMaxAge || !slices.Equal(own.AllowedHeaders, DefaultCORSAllowedHeaders) || !slices.Equal(own.ExposedHeaders, DefaultCORSExposedHeaders) || own.AllowCredentials {
		t.Errorf("cors defaults: %+v", own)
	}
	if got := own.MethodsFor(&cfg.Routes[0]); !slices.Equal(got, []string{"GET", "HEAD", "POST"}) {
		t.Errorf("methods of a policy without allowed_methods on a GET, POST route: %v, want GET, HEAD, POST", got)
	}
	set := cfg.CORSFor(1)
	if set != cfg.APISets["s"].CORS || set.MaxAge != time.Hour || !slices.Equal(set.MethodsFor(&cfg.Routes[1]), []string{"GET"}) || !slices.Equal(set.AllowedHeaders, []string{"X-Custom"}) {
		t.Errorf("routes[1] policy: %+v, want the API set's", set)
	}
	if p := cfg.CORSFor(2); p != nil {
		t.Errorf("routes[2] policy: %+v, want none", p)
	}
	if got := (&CORS{}).MethodsFor(&cfg.Routes[2]); !slices.Equal(got, corsMethodsAny) {
		t.Errorf("methods on a route without methods: %v", got)
	}
}

// TestRouteMethodsOverlap: two routes of one host and prefix must have
// disjoint methods, a route without methods serving them all; the problem
// names both routes.
func TestRouteMethodsOverlap(t *testing.T) {
	tests := []struct {
		name, routes, want string
	}{
		{"no methods beside OPTIONS", `
  - {name: api, path_prefix: /api, upstream: http://h, api_set: s}
  - {name: preflight, path_prefix: /api, upstream: http://h, auth: none, methods: [OPTIONS]}`,
			`routes[1].methods: routes[1] ("preflight") and routes[0] ("api") share host "" and prefix "/api": routes[0] has no methods, so it also serves OPTIONS`},
		{"OPTIONS before no methods", `
  - {name: preflight, path_prefix: /api, upstream: http://h, auth: none, methods: [options]}
  - {name: api, path_prefix: /api/, upstream: http://h, api_set: s}`,
			`routes[1].methods: routes[1] ("api") and routes[0] ("preflight") share host "" and prefix "/api": routes[1] has no methods, so it also serves OPTIONS`},
		{"GET implies HEAD", `
  - {name: read, host: a.example, path_prefix: /x, upstream: http://h, api_set: s, methods: [GET]}
  - {name: head, host: A.example, path_prefix: /x, upstream: http://h, api_set: s, methods: [HEAD, POST]}`,
			`routes[1].methods: routes[1] ("head") and routes[0] ("read") share host "a.example" and prefix "/x" and both serve HEAD`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refusedOnce(t, "routes:"+tt.routes+"\n", "overlapping routes were accepted", tt.want)
		})
	}
	ok := `routes:
  - {name: read, path_prefix: /x, upstream: http://h, api_set: s, methods: [GET]}
  - {name: write, path_prefix: /x, upstream: http://h, api_set: s, methods: [POST, PUT]}
  - {name: other-host, host: b.example, path_prefix: /x, upstream: http://h, api_set: s}
  - {name: longer, path_prefix: /x/y, upstream: http://h, api_set: s}
`
	if _, err := Parse("t.yaml", []byte(ok), nil); err != nil {
		t.Errorf("disjoint routes refused: %v", err)
	}
}
