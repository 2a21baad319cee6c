package selfservice_test

import (
	"encoding/json"
	"testing"

	"github.com/keygate/keygate/authz"
)

// TestKeyDetailsShowRateLimit: a key's own rate limit, set by an
// administrator, is in its self-service details.
func TestKeyDetailsShowRateLimit(t *testing.T) {
	forEachAPIBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders"}, []string{"read"}, "MANAGE_USER_API_KEY")
		e.createKey(t, alice, `{"handle": "ci"}`)
		k, err := e.svc.Accounts.KeyByHandle(t.Context(), "alice", "ci")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Accounts.SetCredentialRateLimit(t.Context(), k.ID, &authz.RateLimit{Rate: 10, Per: "1m", Burst: 20}); err != nil {
			t.Fatal(err)
		}
		r := e.call(t, "GET", "/user/keys/ci", alice, "", "")
		want(t, "GET /user/keys/ci", r, 200)
		var got struct {
			RateLimit *authz.RateLimit `json:"rateLimit"`
		}
		if err := json.Unmarshal(r.Body, &got); err != nil {
			t.Fatal(err)
		}
		if got.RateLimit == nil || *got.RateLimit != (authz.RateLimit{Rate: 10, Per: "1m", Burst: 20}) {
			t.Errorf("key details: rateLimit %+v, want {10 1m 20}: %s", got.RateLimit, r.Body)
		}
	})
}
