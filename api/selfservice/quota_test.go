package selfservice_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/ratelimit"
)

// TestQuota: an API set's daily quota counts a key's requests in the
// store; past it the key gets 429 quota_exceeded with a Retry-After until
// midnight UTC; the key details show the quota and what is used; a
// credential's own quota replaces the configured number.
func TestQuota(t *testing.T) {
	forEachBackend(t, "api_sets:\n  orders: {quota: {requests: 3, per: day}}", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders", "billing"}, []string{"read"}, "MANAGE_USER_API_KEY")
		token := "Bearer " + e.createKey(t, alice, `{"handle": "ci"}`)
		for i := range 3 {
			if r := e.call(t, "GET", "/orders/1", token, "", ""); r.Status != 200 {
				t.Fatalf("request %d within the quota: %s", i+1, r)
			}
		}
		r := e.call(t, "GET", "/orders/1", token, "", "")
		if r.Status != 429 || !strings.Contains(string(r.Body), `"error":"quota_exceeded"`) || !strings.Contains(string(r.Body), "quota of 3 requests per day is used up") {
			t.Fatalf("past the quota: %s, want 429 quota_exceeded", r)
		}
		midnight := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
		if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 1 || ra > int(time.Until(midnight).Seconds())+2 {
			t.Errorf("Retry-After %q, want the seconds until midnight UTC (%v)", r.Header.Get("Retry-After"), time.Until(midnight).Round(time.Second))
		}
		if r := e.call(t, "GET", "/billing/1", token, "", ""); r.Status != 200 {
			t.Errorf("another API set without a quota: %s", r)
		}
		wantQuota(t, e, alice, ratelimit.QuotaUsage{Scope: "apiSet:orders", Requests: 3, Per: "day", Used: 3, Remaining: 0, ResetsAt: midnight})

		k, err := e.svc.Accounts.KeyByHandle(t.Context(), "alice", "ci")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Accounts.SetCredentialQuota(t.Context(), k.ID, &authz.Quota{Requests: 5}); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 2*time.Second, "the credential's own quota reaches the request path", func() bool {
			return e.call(t, "GET", "/orders/1", token, "", "").Status == 200
		})
		if r := e.call(t, "GET", "/orders/1", token, "", ""); r.Status != 200 {
			t.Errorf("5th request under the credential's quota of 5: %s", r)
		}
		if r := e.call(t, "GET", "/orders/1", token, "", ""); r.Status != 429 {
			t.Errorf("6th request under the credential's quota of 5: %s", r)
		}
		wantQuota(t, e, alice, ratelimit.QuotaUsage{Scope: "apiSet:orders", Requests: 5, Per: "day", Used: 5, Remaining: 0, ResetsAt: midnight})
	})
}

func wantQuota(t *testing.T, e *env, authorization string, want ratelimit.QuotaUsage) {
	t.Helper()
	r := e.call(t, "GET", "/user/keys/ci", authorization, "", "")
	want200(t, r)
	var got struct {
		Quotas []ratelimit.QuotaUsage `json:"quotas"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Quotas) != 1 || !got.Quotas[0].ResetsAt.Equal(want.ResetsAt) {
		t.Fatalf("key details: quotas %+v, want [%+v]", got.Quotas, want)
	}
	got.Quotas[0].ResetsAt = want.ResetsAt
	if got.Quotas[0] != want {
		t.Errorf("key details: quota %+v, want %+v", got.Quotas[0], want)
	}
}

func want200(t *testing.T, r response) {
	t.Helper()
	want(t, "GET /user/keys/ci", r, 200)
}
