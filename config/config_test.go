package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

// checkProblem fails the test unless err, Parse's answer, is as want
// says: "" means valid (no error), anything else a problem the error must
// contain. It reports whether err was as wanted.
func checkProblem(t *testing.T, err error, want string) bool {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("got %v, want valid", err)
		return false
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("got error %v, want one containing %q", err, want)
		return false
	}
	return true
}

// oneRoute is the smallest valid routes section, for tests about another section.
const oneRoute = "routes:\n  - {name: api, path_prefix: /api, upstream: http://127.0.0.1:9000, api_set: s}\n"

const minimal = `
routes:
  - name: api
    path_prefix: /api/
    upstream: http://127.0.0.1:9000
    api_set: cortex
`

func TestParseDefaults(t *testing.T) {
	cfg, err := Parse("gateway.yaml", []byte(minimal), env(nil))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", cfg.Listen, DefaultListen},
		{"admin_listen", cfg.AdminListen, DefaultAdminListen},
		{"health_listen", cfg.HealthListen, DefaultHealthListen},
		{"store.driver", cfg.Store.Driver, DriverEmbedded},
		{"store.embedded.path", cfg.Store.Embedded.Path, DefaultEmbeddedPath},
		{"server.max_body_bytes", cfg.Server.MaxBodyBytes, int64(DefaultMaxBodyBytes)},
		{"routes[0].auth", cfg.Routes[0].Auth, AuthRequired},
		{"routes[0].timeout (none)", cfg.Routes[0].Timeout, time.Duration(0)},
		{"routes[0].path_prefix (trailing slash trimmed)", cfg.Routes[0].PathPrefix, "/api"},
		{"log.access_log", cfg.Log.AccessLogEnabled(), true},
		{"auth.upstream_identity", strings.Join(cfg.Auth.UpstreamIdentity, ","), "user,credential_id,credential_kind,api_sets,scopes"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	// cmd/keygate's test of check reads the same file.
	threeMistakes, err := os.ReadFile(filepath.Join("testdata", "three-mistakes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in the error
	}{
		{
			name: "three mistakes",
			yaml: string(threeMistakes),
			want: []string{
				"store.redis.addrs: required when store.driver is redis",
				"routes[0].upstream: scheme must be http, https or unix",
				`routes[1].auth: "sometimes" is not one of required, optional, none`,
			},
		},
		{
			name: "unknown keys with line and suggestion",
			yaml: `
lisen: ":8080"
routes:
  - name: a
    path_prefix: /a
    upstrem: http://127.0.0.1:1
    api_set: s
`,
			want: []string{
				`gateway.yaml:2: lisen: unknown field (did you mean "listen"?)`,
				`gateway.yaml:6: routes[0].upstrem: unknown field (did you mean "upstream"?)`,
				"routes[0].upstream: required",
			},
		},
		{
			name: "type error with line",
			yaml: "server:\n  max_header_bytes: lots\n" + minimal,
			want: []string{"gateway.yaml:2: cannot unmarshal"},
		},
		{
			name: "redis modes",
			yaml: "store:\n  driver: redis\n  redis: {addrs: [\"a:1\", \"b:1\"], sentinel_password: x}\n" + minimal,
			want: []string{
				"store.redis.addrs: 2 addresses need master_name (Sentinel) or cluster: true",
				"store.redis.sentinel_password: only used with master_name (Sentinel)",
			},
		},
		{
			name: "unset variable names the field",
			yaml: "store:\n  redis:\n    password: ${NOPE}\n" + minimal,
			want: []string{"gateway.yaml:3: store.redis.password: environment variable NOPE is not set"},
		},
		{
			name: "route problems",
			yaml: `
routes:
  - name: Bad Name
    path_prefix: api/../x
    upstream: http://user:pw@h
    timeout: -1s
    methods: [get, TRACE]
    scopes: {POST: "Write!"}
  - name: dup
    path_prefix: /x
    upstream: http://h
    auth: none
  - name: dup
    path_prefix: /x/
    upstream: http://h?q=1
    auth: none
`,
			want: []string{
				"routes[0].name: required",
				`routes[0].path_prefix: "api/../x" must start with /`,
				"routes[0].upstream: must not contain user information",
				"routes[0].timeout: must not be negative",
				"routes[0].api_set: required when auth is required",
				`routes[0].methods[1]: "TRACE" is not one of`,
				`routes[0].scopes.POST: "Write!" is not a scope name`,
				`routes[2].name: "dup" is also the name of routes[1]`,
				`routes[2].methods: routes[2] ("dup") and routes[1] ("dup") share host "" and prefix "/x" and neither has methods`,
				"routes[2].upstream: must not contain a query or fragment",
			},
		},
		{
			name: "bad addresses and enums",
			yaml: "listen: nope\nadmin_listen: 127.0.0.1:99999\nlog: {level: loud, format: xml}\ntrusted_proxies: [10.0.0.0/33]\n" + minimal,
			want: []string{
				`listen: "nope" is not host:port`,
				`admin_listen: port "99999" is not a number`,
				`log.level: "loud" is not one of`,
				`log.format: "xml" is not one of`,
				`trusted_proxies[0]: "10.0.0.0/33" is not an IP address or CIDR`,
			},
		},
		{
			name: "health listener on the admin listener",
			yaml: "admin_listen: 0.0.0.0:9090\nhealth_listen: 0.0.0.0:9090\n" + minimal,
			want: []string{"health_listen: must differ from listen and admin_listen"},
		},
		{
			name: "upstream identity names",
			yaml: "auth: {upstream_identity: [user, email, user]}\n" + minimal,
			want: []string{
				`auth.upstream_identity[1]: unknown identity header "email" (want user, credential_id, credential_kind, api_sets, scopes)`,
				`auth.upstream_identity[2]: "user" is listed twice`,
			},
		},
		{
			name: "no routes",
			yaml: "listen: :8080\n",
			want: []string{"routes: at least one route is required"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("gateway.yaml", []byte(tt.yaml), env(nil))
			if err == nil {
				t.Fatalf("Parse succeeded, want errors containing %q", tt.want)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config alongside an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q; got:\n%v", w, err)
				}
			}
			if lines := strings.Count(err.Error(), "\n") + 1; lines != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%v", lines, len(tt.want), err)
			}
		})
	}
}

func TestEnvExpansion(t *testing.T) {
	y := `
store:
  driver: redis
  redis:
    addrs: ["${REDIS_HOST}:6379"]
    password: ${REDIS_PASSWORD}
    username: "$${literal}"
    db: ${REDIS_DB}
    read_timeout: ${REDIS_TIMEOUT}
` + minimal
	cfg, err := Parse("gateway.yaml", []byte(y), env(map[string]string{
		"REDIS_HOST":     "redis.internal",
		"REDIS_PASSWORD": "null", // must stay the text "null", not become empty
		"REDIS_DB":       "3",
		"REDIS_TIMEOUT":  "250ms",
	}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	r := cfg.Store.Redis
	if r.Addrs[0] != "redis.internal:6379" || r.Password != "null" || r.Username != "${literal}" || r.DB != 3 || r.ReadTimeout != 250*time.Millisecond {
		t.Errorf("got addrs=%q password=%q username=%q db=%d read_timeout=%v", r.Addrs, r.Password, r.Username, r.DB, r.ReadTimeout)
	}
}

func TestEnvValueCannotInjectStructure(t *testing.T) {
	y := "store:\n  redis:\n    password: ${PW}\n" + minimal
	cfg, err := Parse("gateway.yaml", []byte(y), env(map[string]string{"PW": "x\nlisten: :1"}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.Listen != DefaultListen || cfg.Store.Redis.Password != "x\nlisten: :1" {
		t.Errorf("listen = %q, password = %q: an environment value changed the structure", cfg.Listen, cfg.Store.Redis.Password)
	}
}

func TestRequiredScope(t *testing.T) {
	r := Route{Scopes: map[string]string{"POST": "read"}}
	for method, want := range map[string]string{"GET": "read", "HEAD": "read", "OPTIONS": "read", "POST": "read", "PUT": "write", "DELETE": "write", "PATCH": "write"} {
		if got := r.RequiredScope(method); got != want {
			t.Errorf("RequiredScope(%s) = %q, want %q", method, got, want)
		}
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(p, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load(missing) = %v, want an error naming the file", err)
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	if _, err := Load("../gateway.yaml"); err != nil {
		t.Fatalf("the repository's gateway.yaml does not load: %v", err)
	}
}

// TestFrontEndPathsReserved: a route may not take the paths of a front
// end that is on; off, the paths are free.
func TestFrontEndPathsReserved(t *testing.T) {
	refusal := map[string]func(prefix string) string{
		"account": func(p string) string {
			return "routes[0].path_prefix: \"" + p + "\" overlaps the account pages at /account"
		},
		"self_service": func(string) string { return "overlaps the self-service API" },
	}
	for _, c := range []struct {
		section string
		prefix  string
		on      bool
		bad     bool
	}{
		{"account", "/", true, true},
		{"account", "/account", true, true},
		{"account", "/account/x", true, true},
		{"account", "/accounts", true, false},
		{"account", "/api", true, false},
		{"account", "/account", false, false},
		{"self_service", "/", true, true},
		{"self_service", "/user", true, true},
		{"self_service", "/user/keys/x", true, true},
		{"self_service", "/oauth", true, true},
		{"self_service", "/users", true, false},
		{"self_service", "/api", true, false},
		{"self_service", "/", false, false},
		{"self_service", "/user", false, false},
	} {
		t.Run(fmt.Sprintf("%s=%v%s", c.section, c.on, c.prefix), func(t *testing.T) {
			y := fmt.Sprintf("%s: {enabled: %v}\nroutes:\n  - {name: r, path_prefix: %q, upstream: http://h, auth: none}\n", c.section, c.on, c.prefix)
			_, err := Parse("t.yaml", []byte(y), nil)
			if got := err != nil && strings.Contains(err.Error(), refusal[c.section](c.prefix)); got != c.bad {
				t.Errorf("prefix %q with %s %v: error %v, want refused=%v", c.prefix, c.section, c.on, err, c.bad)
			}
		})
	}
}

// refusedOnce parses y and fails the test unless it is refused (what
// names it) with each of want exactly once in the error.
func refusedOnce(t *testing.T, y, what string, want ...string) {
	t.Helper()
	_, err := Parse("t.yaml", []byte(y), nil)
	if err == nil {
		t.Fatal(what)
	}
	for _, w := range want {
		if strings.Count(err.Error(), w) != 1 {
			t.Errorf("%q appears %d times in:\n%v", w, strings.Count(err.Error(), w), err)
		}
	}
}

func TestRateLimitValidation(t *testing.T) {
	y := "routes:\n  - {name: r, path_prefix: /, upstream: http://h, auth: none, rate_limit: {rate: 0, key: user, on_store_error: maybe, mode: quick, batch: 5}}\n"
	refusedOnce(t, y, "a bad rate_limit was accepted",
		"routes[0].rate_limit.rate: required",
		`routes[0].rate_limit.key: "user" needs a credential`,
		`routes[0].rate_limit.on_store_error: "maybe" is not one of`,
		"routes[0].rate_limit.burst: must be at least 1",
		`routes[0].rate_limit.mode: "quick" is not one of fast, exact`,
		"routes[0].rate_limit.batch: must be between 0 (adaptive) and routes[0].rate_limit.burst",
	)
	cfg, err := Parse("t.yaml", []byte("routes:\n  - {name: r, path_prefix: /, upstream: http://h, api_set: s, rate_limit: {rate: 10}}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rl := cfg.Routes[0].RateLimit; rl.Per != time.Second || rl.Burst != 10 || rl.Key != LimitByCredential || rl.OnStoreError != OnErrorLocal || !rl.HeadersOn() || rl.Mode != LimitFast || rl.Batch != 0 {
		t.Errorf("rate_limit defaults: %+v", rl)
	}
}

func TestAPISetValidation(t *testing.T) {
	y := `
routes:
  - {name: r, path_prefix: /, upstream: http://h, api_set: orders}
api_sets:
  orders: {rate_limit: {rate: 10, key: everyone}}
  ordrs: {rate_limit: {rate: 10}}
  "bad name": {}
`
	refusedOnce(t, y, "bad api_sets were accepted",
		`api_sets.orders.rate_limit.key: "everyone" is not one of`,
		"api_sets.ordrs: no route has this api_set",
		"api_sets.bad name: not an API set name",
	)
	cfg, err := Parse("t.yaml", []byte("routes:\n  - {name: r, path_prefix: /, upstream: http://h, api_set: s}\napi_sets: {s: {rate_limit: {rate: 10}}}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rl := cfg.APISets["s"].RateLimit; rl.Per != time.Second || rl.Burst != 10 || rl.Key != LimitByCredential || rl.Mode != LimitFast || rl.OnStoreError != OnErrorLocal {
		t.Errorf("api_sets rate_limit defaults: %+v", rl)
	}
}

func TestQuotaValidation(t *testing.T) {
	y := `
routes:
  - {name: a, path_prefix: /a, upstream: http://h, auth: none, quota: {requests: 10}}
  - {name: b, path_prefix: /b, upstream: http://h, api_set: s, quota: {requests: 0, per: week, on_store_error: local}}
api_sets:
  s: {quota: {requests: -1}}
`
	refusedOnce(t, y, "bad quotas were accepted",
		"routes[0].quota: counts per credential: not on a route with auth none",
		"routes[1].quota.requests: required",
		`routes[1].quota.per: "week" is not one of day, month`,
		`routes[1].quota.on_store_error: "local" is not one of fail_closed, fail_open`,
		"api_sets.s.quota.requests: required",
	)
	cfg, err := Parse("t.yaml", []byte("routes:\n  - {name: r, path_prefix: /, upstream: http://h, api_set: s, quota: {requests: 10}}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if q := cfg.Routes[0].Quota; q.Per != QuotaPerMonth || q.OnStoreError != OnErrorFailClosed {
		t.Errorf("quota defaults: %+v", q)
	}
}

func TestKeyFailureLimitValidation(t *testing.T) {
	_, err := Parse("t.yaml", []byte("auth: {lockout_threshold: 5, key_failure_limit: {rate: 1, burst: 3}}\nroutes:\n  - {name: r, path_prefix: /, upstream: http://h, auth: none}\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "auth.key_failure_limit.burst: must be at least auth.lockout_threshold (5)") {
		t.Errorf("burst below the lockout threshold: %v", err)
	}
	cfg, err := Parse("t.yaml", []byte("routes:\n  - {name: r, path_prefix: /, upstream: http://h, auth: none}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if fl := cfg.Auth.KeyFailureLimit; fl.Rate != 10 || fl.Per != time.Minute || fl.Burst != 10 {
		t.Errorf("key_failure_limit defaults: %+v", fl)
	}
}

// TestUpstreamIsOwnListener: a route pointing at keygate's own listener
// would proxy every request to itself; validation refuses it, and only it.
func TestUpstreamIsOwnListener(t *testing.T) {
	for _, tc := range []struct {
		listen, upstream string
		refused          bool
	}{
		{":8080", "http://127.0.0.1:8080", true},
		{":8080", "http://localhost:8080/api", true},
		{":8080", "http://[::1]:8080", true},
		{"127.0.0.1:8080", "http://127.0.0.1:8080", true},
		{"10.0.0.5:80", "http://10.0.0.5", true},
		{":8080", "http://127.0.0.1:8081", false},
		{":8080", "http://api.internal:8080", false},
		{"127.0.0.1:8080", "http://10.0.0.5:8080", false},
		{":443", "http://127.0.0.1", false},
	} {
		y := fmt.Sprintf("listen: %q\nroutes:\n  - {name: a, path_prefix: /, upstream: %q, auth: none}\n", tc.listen, tc.upstream)
		_, err := Parse("gateway.yaml", []byte(y), env(nil))
		if refused := err != nil && strings.Contains(err.Error(), "routes[0].upstream: ") && strings.Contains(err.Error(), "own listener"); refused != tc.refused {
			t.Errorf("listen %s, upstream %s: error %v, want refused %v", tc.listen, tc.upstream, err, tc.refused)
		}
		if !tc.refused && err != nil {
			t.Errorf("listen %s, upstream %s: unexpected error %v", tc.listen, tc.upstream, err)
		}
	}
}

// TestValidityCeiling: the OAuth validity bounds cannot exceed a
// credential's longest life, 100 years; beyond it a client's token
// lifetime could overflow the store's expiry.
func TestValidityCeiling(t *testing.T) {
	for _, tc := range []struct {
		yaml, want string
	}{
		{"oauth: {max_access_token_validity: 876001h}\n", "oauth.max_access_token_validity: must be at most 876000h (100 years)"},
		{"oauth: {max_refresh_token_validity: 2562047h}\n", "oauth.max_refresh_token_validity: must be at most 876000h (100 years)"},
		{"oauth: {max_refresh_token_validity: 876000h}\n", ""},
	} {
		t.Run(tc.yaml, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.yaml+minimal), nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v, want success", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPathPrefixTrailingDot(t *testing.T) {
	_, err := Parse("t.yaml", []byte("routes:\n  - {name: r, path_prefix: /v1./x, upstream: http://h, auth: none}\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "routes[0].path_prefix: ") {
		t.Errorf("path_prefix /v1./x: %v, want refused (no request path can match it)", err)
	}
}

func TestMethodOverrideValidation(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  string // canonical form, or "" if refused
	}{
		{"X-HTTP-Method-Override", "X-Http-Method-Override"},
		{"x-http-method", "X-Http-Method"},
		{"X-Method-Override", "X-Method-Override"},
		{"X-Original-URL", ""}, // a path override is never allowed
		{"X-Rewrite-URL", ""},
		{"X_HTTP_Method_Override", ""},
		{"Override", ""},
	} {
		t.Run(tc.value, func(t *testing.T) {
			y := fmt.Sprintf("routes:\n  - {name: r, path_prefix: /, upstream: http://h, api_set: s, method_override: %s}\n", tc.value)
			cfg, err := Parse("t.yaml", []byte(y), nil)
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), "routes[0].method_override: ") {
					t.Errorf("method_override %q: err %v, want routes[0].method_override refused", tc.value, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("method_override %q: %v", tc.value, err)
			}
			if got := cfg.Routes[0].MethodOverride; got != tc.want {
				t.Errorf("method_override %q became %q, want %q", tc.value, got, tc.want)
			}
		})
	}
}

// TestReplicaWait: store.redis.replica_wait defaults to 100ms and must stay
// below read_timeout, since WAIT is read on the connection.
func TestReplicaWait(t *testing.T) {
	base := "store: {driver: redis, redis: {addrs: [\"127.0.0.1:6379\"]%s}}\nroutes: [{name: r, path_prefix: /, upstream: \"http://127.0.0.1:1\", auth: none}]\n"
	cfg, err := Parse("g.yaml", []byte(fmt.Sprintf(base, "")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Redis.ReplicaWait != DefaultRedisReplicaWait {
		t.Errorf("default replica_wait %s, want %s", cfg.Store.Redis.ReplicaWait, DefaultRedisReplicaWait)
	}
	_, err = Parse("g.yaml", []byte(fmt.Sprintf(base, ", read_timeout: 200ms, replica_wait: 300ms")), nil)
	if err == nil || !strings.Contains(err.Error(), "store.redis.replica_wait") {
		t.Errorf("replica_wait above read_timeout: %v, want an error naming store.redis.replica_wait", err)
	}
	if _, err := Parse("g.yaml", []byte(fmt.Sprintf(base, ", replica_wait: -1s")), nil); err != nil {
		t.Errorf("replica_wait -1s (off): %v", err)
	}
}
