package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestOIDCConfig: account.oidc's defaults, the client secret from the
// environment or a file, and every checked field refused with its path.
func TestOIDCConfig(t *testing.T) {
	oidc := func(o string) string { return "account:\n  enabled: true\n  oidc: " + o + "\n" + oneRoute }
	env := func(name string) (string, bool) {
		if name == "OIDC_SECRET" {
			return "k3y-from-the-provider-Zq81xWv", true
		}
		return "", false
	}
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("  s3cret-in-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("defaults", func(t *testing.T) {
		cfg, err := Parse("t.yaml", []byte(oidc("{issuer: https://sso.example.com/realms/acme, client_id: keygate, client_secret: '${OIDC_SECRET}'}")), env)
		if err != nil {
			t.Fatal(err)
		}
		o := cfg.Account.OIDC
		if o.Name != "single sign-on" || !slices.Equal(o.Scopes, []string{"openid", "email", "profile"}) || o.MatchClaim != "email" ||
			o.Provision || o.Only || !slices.Equal(o.ProvisionScopes, []string{"read", "write"}) || o.FetchTimeout != 5*time.Second ||
			o.RedirectURL != "" || o.Secret() != "k3y-from-the-provider-Zq81xWv" {
			t.Errorf("got %+v, want the documented defaults", o)
		}
		off, err := Parse("t.yaml", []byte(oneRoute), nil)
		if err != nil || off.Account.OIDC != nil {
			t.Errorf("without account.oidc: %v %v", off.Account.OIDC, err)
		}
	})
	t.Run("secret file", func(t *testing.T) {
		cfg, err := Parse("t.yaml", []byte(oidc("{issuer: https://sso.example.com, client_id: k, client_secret_file: "+secretFile+"}")), nil)
		if err != nil || cfg.Account.OIDC.Secret() != "s3cret-in-a-file" {
			t.Errorf("secret from a file: %q %v", cfg.Account.OIDC.Secret(), err)
		}
	})
	t.Run("pages off", func(t *testing.T) {
		_, err := Parse("t.yaml", []byte("account:\n  oidc: {issuer: https://sso.example.com, client_id: k}\n"+oneRoute), nil)
		if err == nil || !strings.Contains(err.Error(), "account.oidc: set only when account.enabled is true") {
			t.Errorf("account.oidc without the pages: %v", err)
		}
	})
	for _, tt := range []struct {
		name, oidc string
		want       string // "" means valid
	}{
		{"full", "{name: Keycloak, issuer: https://sso.example.com/realms/acme, client_id: keygate, client_secret_file: " + secretFile + ", redirect_url: https://gw.example.com/account/oidc/callback, scopes: [openid, email, profile, groups], match_claim: preferred_username, provision: true, provision_scopes: [read], claims: {api_sets: {claim: realm_access.roles, values: {clerks: [orders]}}, authorities: {claim: groups, values: {admins: [ADMIN], makers: [MANAGE_USER_API_KEY]}}}, only: true, fetch_timeout: 3s, max_starts_per_address: 20}", ""},
		{"public client", "{issuer: http://127.0.0.1:8080/oidc, client_id: k}", ""},
		{"no issuer", "{client_id: k}", "account.oidc.issuer: required"},
		{"http remote", "{issuer: http://sso.example.com, client_id: k}", "account.oidc.issuer: \"http://sso.example.com\": http only on a loopback address"},
		{"no client", "{issuer: https://sso.example.com}", "account.oidc.client_id: required"},
		{"both secrets", "{issuer: https://sso.example.com, client_id: k, client_secret: abc, client_secret_file: " + secretFile + "}", "account.oidc.client_secret: set client_secret or client_secret_file, not both"},
		{"placeholder secret", "{issuer: https://sso.example.com, client_id: k, client_secret: REPLACE-ME-oidc-secret}", "account.oidc.client_secret: the value is a placeholder"},
		{"missing secret file", "{issuer: https://sso.example.com, client_id: k, client_secret_file: /nonexistent/secret}", "account.oidc.client_secret_file: cannot read \"/nonexistent/secret\""},
		{"redirect elsewhere", "{issuer: https://sso.example.com, client_id: k, redirect_url: https://gw.example.com/callback}", "account.oidc.redirect_url: \"https://gw.example.com/callback\": the path must be /account/oidc/callback"},
		{"redirect not a URL", "{issuer: https://sso.example.com, client_id: k, redirect_url: /account/oidc/callback}", "account.oidc.redirect_url: \"/account/oidc/callback\" is not an absolute"},
		{"match claim", "{issuer: https://sso.example.com, client_id: k, match_claim: sub}", "account.oidc.match_claim: \"sub\" is not one of email, preferred_username"},
		{"email without its scope", "{issuer: https://sso.example.com, client_id: k, scopes: [openid, profile]}", "account.oidc.scopes: must include email when match_claim is email"},
		{"starts per address", "{issuer: https://sso.example.com, client_id: k, max_starts_per_address: -1}", "account.oidc.max_starts_per_address: must be at least 1"},
		{"bad scope", "{issuer: https://sso.example.com, client_id: k, scopes: [openid, email, 'a b']}", "account.oidc.scopes[2]: \"a b\" is not a scope name"},
		{"bad provision scope", "{issuer: https://sso.example.com, client_id: k, provision: true, provision_scopes: [Read]}", "account.oidc.provision_scopes[0]: \"Read\" is not a valid scope name"},
		{"bad API set", "{issuer: https://sso.example.com, client_id: k, provision: true, claims: {api_sets: {claim: groups, values: {g: ['no good']}}}}", `account.oidc.claims.api_sets.values["g"][0]: "no good" is not a valid API set name`},
		{"bad authority", "{issuer: https://sso.example.com, client_id: k, provision: true, claims: {authorities: {claim: groups, values: {g: [ROOT]}}}}", `account.oidc.claims.authorities.values["g"][0]: "ROOT" is not one of ADMIN, MANAGE_USER_API_KEY`},
		{"map without claim", "{issuer: https://sso.example.com, client_id: k, provision: true, claims: {api_sets: {values: {g: [s]}}}}", "account.oidc.claims.api_sets.claim: required"},
		{"claims without provision", "{issuer: https://sso.example.com, client_id: k, claims: {api_sets: {claim: groups, values: {g: [s]}}}}", "account.oidc.claims: only used with provision: true"},
		{"unknown field", "{issuer: https://sso.example.com, client_id: k, provison: true}", "unknown field"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(oidc(tt.oidc)), env)
			checkProblem(t, err, tt.want)
		})
	}
}
