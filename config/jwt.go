package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// JWT accepts Bearer JWTs (access tokens) from identity providers on
// proxied routes, beside keygate's own credentials. A token in keygate's
// format is recognised by its prefix and checksum first; only a Bearer
// token that is not one and looks like a JWT is verified here. See
// docs/federation.md.
type JWT struct {
	// Issuers are the identity providers whose tokens are accepted. Default
	// none: JWTs are not accepted.
	Issuers []JWTIssuer `yaml:"issuers"`
	// CacheSize bounds the number of verified JWTs kept in process (by a
	// keyed digest, until they expire), so that a token seen again costs
	// no signature check. Default 10000.
	CacheSize int `yaml:"cache_size"`
}

// JWTIssuer is one identity provider and what its tokens must say.
type JWTIssuer struct {
	// Issuer is the "iss" a token must carry, exactly, and, without
	// jwks_url, where the keys are discovered
	// (<issuer>/.well-known/openid-configuration). https, or http on a
	// loopback address. Required.
	Issuer string `yaml:"issuer"`
	// Audiences: a token's "aud" must name at least one of them.
	// Required.
	Audiences []string `yaml:"audiences"`
	// Algorithms are the signature algorithms accepted (the token's
	// "alg"): asymmetric ones only, from RS256, RS384, RS512, PS256,
	// PS384, PS512, ES256, ES384, ES512 and EdDSA; never none or HS*.
	// Default [RS256].
	Algorithms []string `yaml:"algorithms"`
	// JWKSURL is where the provider's public keys are read. Default: the
	// jwks_uri of the issuer's discovery document.
	JWKSURL string `yaml:"jwks_url"`
	// UserClaim names the claim that becomes the user (X-Keygate-User).
	// Default "sub".
	UserClaim string `yaml:"user_claim"`
	// UserPrefix is put before the user claim's value, so that the
	// provider's users cannot be taken for keygate's own (for example
	// "idp:"). Default none.
	UserPrefix string `yaml:"user_prefix"`
	// APISetsClaim names the claim (a list, or a space-separated string)
	// whose values are the token's API sets, when api_set_map is not set.
	// Default "api_sets".
	APISetsClaim string `yaml:"api_sets_claim"`
	// APISetMap, when set, derives the API sets from the values of another
	// claim instead (for example Keycloak's groups or realm roles).
	APISetMap *JWTClaimMap `yaml:"api_set_map"`
	// ClockSkew is the leeway on exp, nbf and iat. At most 5m. Default
	// 30s (a zero value means the default; write 1s for the least).
	ClockSkew time.Duration `yaml:"clock_skew"`
	// JWKSMinRefreshInterval: a token signed by a key keygate does not
	// know makes it read the keys again, at most once per this interval.
	// Default 1m.
	JWKSMinRefreshInterval time.Duration `yaml:"jwks_min_refresh_interval"`
	// JWKSMaxAge: keys read longer ago than this are read again at the
	// next token (and kept if the provider does not answer). Default 1h.
	JWKSMaxAge time.Duration `yaml:"jwks_max_age"`
	// FetchTimeout bounds each request to the provider (discovery and
	// keys). Default 5s.
	FetchTimeout time.Duration `yaml:"fetch_timeout"`
}

// JWTClaimMap maps the values of a claim to API sets.
type JWTClaimMap struct {
	// Claim names the claim; a dotted path reaches into objects
	// ("realm_access.roles"). Required.
	Claim string `yaml:"claim"`
	// Values maps each claim value to the API sets it grants; a token gets
	// the union. Values not listed grant nothing. Required.
	Values map[string][]string `yaml:"values"`
}

// JWTAlgorithms are the algorithms auth.jwt.issuers[].algorithms accepts.
var JWTAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// On reports whether any identity provider's JWTs are accepted.
func (j JWT) On() bool { return len(j.Issuers) > 0 }

// applyDefaults fills the auth.jwt section.
func (j *JWT) applyDefaults() {
	setDefault(&j.CacheSize, DefaultJWTCacheSize)
	for i := range j.Issuers {
		is := &j.Issuers[i]
		if len(is.Algorithms) == 0 {
			is.Algorithms = []string{DefaultJWTAlgorithm}
		}
		setDefault(&is.UserClaim, DefaultJWTUserClaim)
		setDefault(&is.APISetsClaim, DefaultJWTAPISetsClaim)
		setDefault(&is.ClockSkew, DefaultJWTClockSkew)
		setDefault(&is.JWKSMinRefreshInterval, DefaultJWKSMinRefreshInterval)
		setDefault(&is.JWKSMaxAge, DefaultJWKSMaxAge)
		setDefault(&is.FetchTimeout, DefaultJWTFetchTimeout)
	}
}

// maxJWTClockSkew bounds auth.jwt.issuers[].clock_skew: a skew is for
// clocks that differ a little, not for tokens that have expired.
const maxJWTClockSkew = 5 * time.Minute

// validateJWT checks the auth.jwt section.
func (c *Config) validateJWT(v *problems) {
	j := c.Auth.JWT
	if j.CacheSize < 100 {
		v.add("auth.jwt.cache_size", "must be at least 100")
	}
	for i, is := range j.Issuers {
		f := func(field string) string { return fmt.Sprintf("auth.jwt.issuers[%d].%s", i, field) }
		if is.Issuer == "" {
			v.add(f("issuer"), "required: the iss of the provider's tokens")
		} else if err := checkProviderURL(is.Issuer); err != nil {
			v.add(f("issuer"), err.Error())
		}
		for k, other := range j.Issuers[:i] {
			if other.Issuer == is.Issuer && is.Issuer != "" {
				v.add(f("issuer"), fmt.Sprintf("%q is also auth.jwt.issuers[%d]", is.Issuer, k))
			}
		}
		if is.JWKSURL != "" {
			if err := checkProviderURL(is.JWKSURL); err != nil {
				v.add(f("jwks_url"), err.Error())
			}
		}
		if len(is.Audiences) == 0 {
			v.add(f("audiences"), "required: at least one audience a token must name")
		}
		for k, a := range is.Audiences {
			if a == "" {
				v.add(fmt.Sprintf("%s[%d]", f("audiences"), k), "must not be empty")
			}
		}
		for k, a := range is.Algorithms {
			if !slices.Contains(JWTAlgorithms, a) {
				v.add(fmt.Sprintf("%s[%d]", f("algorithms"), k), fmt.Sprintf("%q is not one of %s (asymmetric algorithms only)", a, strings.Join(JWTAlgorithms, ", ")))
			}
		}
		if strings.ContainsAny(is.UserPrefix, "\r\n\x00") {
			v.add(f("user_prefix"), "must not contain control characters")
		}
		if is.ClockSkew < 0 || is.ClockSkew > maxJWTClockSkew {
			v.add(f("clock_skew"), "must be from 0 to 5m")
		}
		v.positive(f("jwks_min_refresh_interval"), is.JWKSMinRefreshInterval)
		v.positive(f("jwks_max_age"), is.JWKSMaxAge)
		v.positive(f("fetch_timeout"), is.FetchTimeout)
		if m := is.APISetMap; m != nil {
			if m.Claim == "" {
				v.add(f("api_set_map.claim"), "required: the claim whose values are mapped")
			}
			if len(m.Values) == 0 {
				v.add(f("api_set_map.values"), "required: at least one claim value and its API sets")
			}
			for _, val := range slices.Sorted(maps.Keys(m.Values)) {
				for k, s := range m.Values[val] {
					if !setName.MatchString(s) {
						v.add(fmt.Sprintf("%s[%q][%d]", f("api_set_map.values"), val, k), fmt.Sprintf("%q is not a valid API set name", s))
					}
				}
			}
		}
	}
}

// checkProviderURL accepts an absolute https URL, or http on a loopback
// address (a provider on the same host, or a test).
func checkProviderURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an absolute URL without query or fragment", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("%q: http only on a loopback address; use https", s)
	}
	return fmt.Errorf("%q: the scheme must be https", s)
}
