package config

import (
	"slices"
	"testing"
	"time"
)

// TestJWTConfig: auth.jwt's defaults, and every field that is checked
// refused with its path: the issuer and keys' URLs (https, or http on a
// loopback address), the audiences, the algorithm allow-list (never none
// or HS*), the skew and the claim map.
func TestJWTConfig(t *testing.T) {
	jwt := func(issuer string) string { return "auth:\n  jwt:\n    issuers:\n      - " + issuer + "\n" + oneRoute }
	t.Run("defaults", func(t *testing.T) {
		cfg, err := Parse("t.yaml", []byte(jwt("{issuer: https://idp.example.com/realms/acme, audiences: [keygate]}")), nil)
		if err != nil {
			t.Fatal(err)
		}
		j := cfg.Auth.JWT
		is := j.Issuers[0]
		if !j.On() || j.CacheSize != DefaultJWTCacheSize || !slices.Equal(is.Algorithms, []string{"RS256"}) || is.UserClaim != "sub" ||
			is.APISetsClaim != "api_sets" || is.ClockSkew != 30*time.Second || is.JWKSMinRefreshInterval != time.Minute ||
			is.JWKSMaxAge != time.Hour || is.FetchTimeout != 5*time.Second || is.JWKSURL != "" || is.APISetMap != nil {
			t.Errorf("got %+v %+v, want the documented defaults", j, is)
		}
		off, err := Parse("t.yaml", []byte(oneRoute), nil)
		if err != nil || off.Auth.JWT.On() {
			t.Errorf("without auth.jwt: On %v, err %v; want off", off.Auth.JWT.On(), err)
		}
	})
	for _, tt := range []struct {
		name, issuer string
		want         string // "" means valid
	}{
		{"full", "{issuer: https://idp.example.com, audiences: [a, b], algorithms: [RS256, ES256, EdDSA], jwks_url: https://idp.example.com/keys, user_claim: preferred_username, user_prefix: 'idp:', api_set_map: {claim: realm_access.roles, values: {orders-team: [orders, reports]}}, clock_skew: 1m}", ""},
		{"http loopback", "{issuer: http://127.0.0.1:8080/oidc, audiences: [a]}", ""},
		{"http localhost", "{issuer: http://localhost:8080/oidc, audiences: [a]}", ""},
		{"no issuer", "{audiences: [a]}", "auth.jwt.issuers[0].issuer: required"},
		{"http remote", "{issuer: http://idp.example.com, audiences: [a]}", "auth.jwt.issuers[0].issuer: \"http://idp.example.com\": http only on a loopback address"},
		{"not a URL", "{issuer: idp.example.com, audiences: [a]}", "auth.jwt.issuers[0].issuer: \"idp.example.com\" is not an absolute URL"},
		{"jwks http remote", "{issuer: https://idp.example.com, audiences: [a], jwks_url: http://idp.example.com/keys}", "auth.jwt.issuers[0].jwks_url: "},
		{"no audience", "{issuer: https://idp.example.com}", "auth.jwt.issuers[0].audiences: required"},
		{"empty audience", "{issuer: https://idp.example.com, audiences: ['']}", "auth.jwt.issuers[0].audiences[0]: must not be empty"},
		{"alg none", "{issuer: https://idp.example.com, audiences: [a], algorithms: [RS256, none]}", "auth.jwt.issuers[0].algorithms[1]: \"none\" is not one of"},
		{"alg HS256", "{issuer: https://idp.example.com, audiences: [a], algorithms: [HS256]}", "auth.jwt.issuers[0].algorithms[0]: \"HS256\" is not one of"},
		{"skew too large", "{issuer: https://idp.example.com, audiences: [a], clock_skew: 10m}", "auth.jwt.issuers[0].clock_skew: must be from 0 to 5m"},
		{"map without claim", "{issuer: https://idp.example.com, audiences: [a], api_set_map: {values: {g: [s]}}}", "auth.jwt.issuers[0].api_set_map.claim: required"},
		{"map without values", "{issuer: https://idp.example.com, audiences: [a], api_set_map: {claim: groups}}", "auth.jwt.issuers[0].api_set_map.values: required"},
		{"map bad set", "{issuer: https://idp.example.com, audiences: [a], api_set_map: {claim: groups, values: {g: ['no good']}}}", `auth.jwt.issuers[0].api_set_map.values["g"][0]: "no good" is not a valid API set name`},
		{"twice", "{issuer: https://idp.example.com, audiences: [a]}\n      - {issuer: https://idp.example.com, audiences: [b]}", `auth.jwt.issuers[1].issuer: "https://idp.example.com" is also auth.jwt.issuers[0]`},
		{"unknown field", "{issuer: https://idp.example.com, audience: [a]}", "unknown field"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(jwt(tt.issuer)), nil)
			checkProblem(t, err, tt.want)
		})
	}
}
