package config

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// OIDC lets people sign in to the account pages with an OpenID Connect
// provider (authorization code flow with PKCE), beside the password form
// or instead of it. See docs/account.md and docs/federation.md.
type OIDC struct {
	// Name is the provider's name on the sign-in page's button ("Sign in
	// with <name>"). Default "single sign-on".
	Name string `yaml:"name"`
	// Issuer is the provider's issuer URL, exactly as its ID tokens'
	// "iss" says; its discovery document is read from
	// <issuer>/.well-known/openid-configuration at the first sign-in.
	// https, or http on a loopback address. Required.
	Issuer string `yaml:"issuer"`
	// ClientID is keygate's client at the provider; ID tokens must name it
	// in "aud". Required.
	ClientID string `yaml:"client_id"`
	// ClientSecret is the client's secret (write it as
	// ${ENV_VARIABLE}). Set it or client_secret_file, not both; with
	// neither, keygate is a public client and relies on PKCE alone.
	ClientSecret string `yaml:"client_secret"`
	// ClientSecretFile is a file holding the client's secret (surrounding
	// white space is dropped), read when the config is loaded.
	ClientSecretFile string `yaml:"client_secret_file"`
	// RedirectURL is where the provider sends the browser back: the
	// account pages' /oidc/callback, as registered at the provider.
	// Default: derived from each request (its scheme as the session
	// cookie's Secure says, its Host, account.path); set it when keygate
	// is reached under more than one host name.
	RedirectURL string `yaml:"redirect_url"`
	// Scopes asked for; "openid" is always asked for. Default [openid,
	// email, profile].
	Scopes []string `yaml:"scopes"`
	// MatchClaim is the ID token claim whose value is the keygate user's
	// name: email (only when the token's email_verified is true; matched
	// in lower case) or preferred_username. Default email.
	MatchClaim string `yaml:"match_claim"`
	// Provision creates the user at their first sign-in, with the API
	// sets and authorities claims maps from the ID token and the scopes
	// provision_scopes. Default false: a person without a keygate user of
	// that name is refused.
	Provision bool `yaml:"provision"`
	// ProvisionScopes are the scopes of a provisioned user. Default
	// [read, write].
	ProvisionScopes []string `yaml:"provision_scopes"`
	// Claims maps ID token claims to what a provisioned user gets.
	Claims OIDCClaims `yaml:"claims"`
	// Only offers the provider alone: the sign-in page has no password
	// form, and a password posted to it is refused. Default false.
	Only bool `yaml:"only"`
	// FetchTimeout bounds each request to the provider (discovery, keys,
	// the token exchange). Default 5s.
	FetchTimeout time.Duration `yaml:"fetch_timeout"`
	// MaxStartsPerAddress bounds the sign-ins one client address may
	// start (/oidc/start) within 10 minutes, the lifetime of a started
	// sign-in: each start stores a small record, and the page needs no
	// credential, so without a bound anyone could fill the store. Past
	// it, /oidc/start answers 429 with Retry-After and stores nothing.
	// Counted in the store, so across replicas. Default 60.
	MaxStartsPerAddress int `yaml:"max_starts_per_address"`

	// secret is ClientSecret or the content of ClientSecretFile.
	secret string
}

// OIDCClaims maps the values of ID token claims to what a provisioned
// user gets. A value the map does not list grants nothing, so a user never
// gets more than the config names.
type OIDCClaims struct {
	// APISets maps values of a claim to API sets. Default none: a
	// provisioned user has no API set.
	APISets *JWTClaimMap `yaml:"api_sets"`
	// Authorities maps values of a claim to keygate authorities (ADMIN,
	// MANAGE_USER_API_KEY). Default none.
	Authorities *JWTClaimMap `yaml:"authorities"`
}

// OIDC match claims.
const (
	MatchEmail             = "email"
	MatchPreferredUsername = "preferred_username"
)

// Authorities a provisioned user may be given (authz's).
var oidcAuthorities = []string{"ADMIN", "MANAGE_USER_API_KEY"}

// Secret is the client secret: client_secret, or what client_secret_file
// held when the config was validated ("" for a public client).
func (o *OIDC) Secret() string { return o.secret }

// applyDefaults fills account.oidc.
func (o *OIDC) applyDefaults() {
	setDefault(&o.Name, DefaultOIDCName)
	if len(o.Scopes) == 0 {
		o.Scopes = []string{"openid", "email", "profile"}
	}
	setDefault(&o.MatchClaim, MatchEmail)
	if o.ProvisionScopes == nil {
		o.ProvisionScopes = []string{"read", "write"}
	}
	setDefault(&o.FetchTimeout, DefaultOIDCFetchTimeout)
	setDefault(&o.MaxStartsPerAddress, DefaultOIDCMaxStartsPerAddress)
}

// validateOIDC checks account.oidc (when it is set), and reads
// client_secret_file.
func (c *Config) validateOIDC(v *problems) {
	o := c.Account.OIDC
	if o == nil {
		return
	}
	const p = "account.oidc."
	if !c.Account.On() {
		v.add("account.oidc", "set only when account.enabled is true")
	}
	if strings.ContainsAny(o.Name, "\r\n\x00") || len(o.Name) > 64 {
		v.add(p+"name", "at most 64 characters, no control characters")
	}
	if o.Issuer == "" {
		v.add(p+"issuer", "required: the provider's issuer URL")
	} else if err := checkProviderURL(o.Issuer); err != nil {
		v.add(p+"issuer", err.Error())
	}
	if o.ClientID == "" {
		v.add(p+"client_id", "required: keygate's client id at the provider")
	}
	switch {
	case o.ClientSecret != "" && o.ClientSecretFile != "":
		v.add(p+"client_secret", "set client_secret or client_secret_file, not both")
	case o.ClientSecret != "":
		o.secret = o.ClientSecret
		if why := WeakSecret(o.ClientSecret); strings.HasPrefix(why, "is a placeholder") {
			c.secretProblem(v, p+"client_secret", o.ClientSecret, "the provider's client settings")
		}
	case o.ClientSecretFile != "":
		if data, ok := v.file(p+"client_secret_file", o.ClientSecretFile); ok {
			o.secret = strings.TrimSpace(string(data))
			if o.secret == "" {
				v.add(p+"client_secret_file", fmt.Sprintf("%q is empty", o.ClientSecretFile))
			}
		}
	}
	if o.RedirectURL != "" {
		u, err := url.Parse(o.RedirectURL)
		switch {
		case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || (u.Scheme != "https" && u.Scheme != "http"):
			v.add(p+"redirect_url", fmt.Sprintf("%q is not an absolute http(s) URL without query or fragment", o.RedirectURL))
		case u.Path != c.Account.Path+"/oidc/callback":
			v.add(p+"redirect_url", fmt.Sprintf("%q: the path must be %s/oidc/callback (account.path)", o.RedirectURL, c.Account.Path))
		}
	}
	for i, s := range o.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			v.add(fmt.Sprintf("%sscopes[%d]", p, i), fmt.Sprintf("%q is not a scope name", s))
		}
	}
	switch o.MatchClaim {
	case MatchEmail:
		if !slices.Contains(o.Scopes, "email") {
			v.add(p+"scopes", "must include email when match_claim is email")
		}
	case MatchPreferredUsername:
		if !slices.Contains(o.Scopes, "profile") {
			v.add(p+"scopes", "must include profile when match_claim is preferred_username")
		}
	default:
		v.add(p+"match_claim", fmt.Sprintf("%q is not one of %s, %s", o.MatchClaim, MatchEmail, MatchPreferredUsername))
	}
	for i, s := range o.ProvisionScopes {
		if !scopeName.MatchString(s) {
			v.add(fmt.Sprintf("%sprovision_scopes[%d]", p, i), fmt.Sprintf("%q is not a valid scope name", s))
		}
	}
	if m := o.Claims.APISets; m != nil {
		claimMap(v, p+"claims.api_sets", m, func(s string) string {
			if setName.MatchString(s) {
				return ""
			}
			return fmt.Sprintf("%q is not a valid API set name", s)
		})
	}
	if m := o.Claims.Authorities; m != nil {
		claimMap(v, p+"claims.authorities", m, func(s string) string {
			if slices.Contains(oidcAuthorities, s) {
				return ""
			}
			return fmt.Sprintf("%q is not one of %s", s, strings.Join(oidcAuthorities, ", "))
		})
	}
	if !o.Provision && (o.Claims.APISets != nil || o.Claims.Authorities != nil) {
		v.add(p+"claims", "only used with provision: true")
	}
	v.positive(p+"fetch_timeout", o.FetchTimeout)
	if o.MaxStartsPerAddress < 1 {
		v.add(p+"max_starts_per_address", "must be at least 1")
	}
}

// claimMap checks a claim map whose granted values bad judges.
func claimMap(v *problems, path string, m *JWTClaimMap, bad func(string) string) {
	if m.Claim == "" {
		v.add(path+".claim", "required: the claim whose values are mapped")
	}
	if len(m.Values) == 0 {
		v.add(path+".values", "required: at least one claim value and what it grants")
	}
	for _, val := range slices.Sorted(maps.Keys(m.Values)) {
		for k, s := range m.Values[val] {
			if why := bad(s); why != "" {
				v.add(fmt.Sprintf("%s.values[%q][%d]", path, val, k), why)
			}
		}
	}
}
