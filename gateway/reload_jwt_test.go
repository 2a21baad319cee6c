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
