package gateway

import (
	"slices"
	"testing"

	"github.com/keygate/keygate/config"
)

// TestRestartOnlyJWT: a change of auth.jwt is reported as needing a
// restart (the credential service takes it when it is built).
func TestRestartOnlyJWT(t *testing.T) {
	old := &config.Config{}
	cfg := &config.Config{Auth: config.Auth{JWT: config.JWT{Issuers: []config.JWTIssuer{{Issuer: "https://idp.example.com", Audiences: []string{"api"}}}}}}
	if got := restartOnly(old, cfg); !slices.Contains(got, "auth.jwt") {
		t.Errorf("restartOnly = %v, want auth.jwt among them", got)
	}
	if got := restartOnly(cfg, cfg); slices.Contains(got, "auth.jwt") {
		t.Errorf("restartOnly of an unchanged config = %v", got)
	}
}

// TestRestartOnlyOIDC: account.oidc is compared by value: the same
// section loaded again (a new pointer) is no change; another client is.
func TestRestartOnlyOIDC(t *testing.T) {
	load := func(client string) *config.Config {
		return &config.Config{Account: config.Account{Enabled: true, OIDC: &config.OIDC{Issuer: "https://idp.example.com", ClientID: client}}}
	}
	if got := restartOnly(load("keygate"), load("keygate")); slices.Contains(got, "account") {
		t.Errorf("restartOnly of the same account.oidc loaded twice = %v", got)
	}
	if got := restartOnly(load("keygate"), load("other")); !slices.Contains(got, "account") {
		t.Errorf("restartOnly = %v, want account among them", got)
	}
}
