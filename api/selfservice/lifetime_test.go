package selfservice_test

import (
	"strings"
	"testing"
	"time"
)

// TestLifetimeBounds: a lifetime or expiry out of bounds (in the past,
// not positive, beyond 100 years, or beyond what a time.Duration holds)
// is a 400 that names the field, never a 500, and creates nothing.
func TestLifetimeBounds(t *testing.T) {
	forEachAPIBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
		alice = "Bearer " + mustKey(t, e, "alice", "admin") // quicker than a password
		at := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
		const year = 365 * 24 * time.Hour

		for _, tc := range []struct {
			name, path, body, field string
			status                  int
		}{
			{"key expiring in year 9999", "/user/keys", `{"handle": "k", "expiresAt": "9999-12-31T23:59:59Z"}`, "expiresAt", 400},
			{"key expiring in 101 years", "/user/keys", `{"handle": "k", "expiresAt": "` + at(101*year) + `"}`, "expiresAt", 400},
			{"key expired a second ago", "/user/keys", `{"handle": "k", "expiresAt": "` + at(-time.Second) + `"}`, "expiresAt", 400},
			{"key expiring in year 0", "/user/keys", `{"handle": "k", "expiresAt": "0000-01-01T00:00:00Z"}`, "expiresAt", 400},
			{"client with an access token validity beyond int64 nanoseconds", "/connect/register/createClientId", `{"accessTokenValiditySeconds": 9223372036854775807}`, "accessTokenValiditySeconds", 400},
			{"client with a negative refresh token validity", "/connect/register/createClientId", `{"refreshTokenValiditySeconds": -1}`, "refreshTokenValiditySeconds", 400},
			{"client with a refresh token validity of 101 years", "/connect/register/createClientId", `{"refreshTokenValiditySeconds": 3185136000}`, "refreshTokenValiditySeconds", 400},
			{"key expiring in 99 years", "/user/keys", `{"handle": "k99", "expiresAt": "` + at(99*year) + `"}`, "", 201},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.postJSON(t, tc.path, alice, tc.body)
				if tc.status != 400 {
					want(t, tc.name, r, tc.status)
					return
				}
				if desc := wantError(t, tc.name, r, 400, "invalid_request"); !strings.Contains(desc, tc.field) {
					t.Errorf("%s: error_description %q, want it to name %s", tc.name, desc, tc.field)
				}
			})
		}
		// The refused requests created nothing: the admin key and k99.
		creds, err := e.svc.Accounts.Credentials(t.Context(), "alice")
		if err != nil || len(creds) != 2 {
			t.Errorf("credentials after the refused creates: %d, %v; want 2", len(creds), err)
		}
		if cs, err := e.svc.OAuth.Clients(t.Context(), "alice"); err != nil || len(cs) != 0 {
			t.Errorf("clients after the refused creates: %d, %v; want 0", len(cs), err)
		}
	})
}
