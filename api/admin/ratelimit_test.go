package admin_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/testkit"
)

// TestRateLimitOverrides: an administrator sets a user's and a
// credential's own rate limit; the proxied route's per-credential limit
// follows (the credential's, else the user's, else the configured one),
// the credentials list shows them, and null removes them.
func TestRateLimitOverrides(t *testing.T) {
	for _, backend := range []string{"embedded", "redis"} {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend, adminToken)
			e.user(t, "alice", []string{"orders"})
			token := e.key(t, "alice", "k")
			root := bearer(adminToken)
			id := e.credentials(t, root, "alice").find(t, func(c credential) bool { return c.Handle == "k" }).ID

			// waitLimit sends requests until one shows RateLimit-Limit
			// limit (the change has reached the request path) and returns
			// its RateLimit-Remaining. (In Redis a bucket's use carries
			// over to its new limit; in process the bucket starts full.)
			waitLimit := func(what, limit string) string {
				t.Helper()
				var r response
				testkit.Eventually(t, 2*time.Second, what+": RateLimit-Limit "+limit, func() bool {
					r = do(t, "GET", e.base+"/orders/1", token, "", "")
					return r.Header.Get("Ratelimit-Limit") == limit
				})
				return r.Header.Get("Ratelimit-Remaining")
			}
			waitLimit("configured", "1000")

			want(t, "user limit", e.call(t, "PATCH", "/admin/users/alice", root, `{"rateLimit": {"rate": 1, "per": "1h", "burst": 3}}`), 200)
			// In process the changed limit starts full; in Redis the
			// bucket's earlier use (under 1000/s) carries over, a fraction
			// of a token.
			if left := waitLimit("the user's limit", "3"); left != "2" && (backend == "embedded" || left != "1") {
				t.Errorf("first request under the user's limit: %s left, want 2", left)
			}
			do(t, "GET", e.base+"/orders/1", token, "", "")
			do(t, "GET", e.base+"/orders/1", token, "", "")
			if r := do(t, "GET", e.base+"/orders/1", token, "", ""); r.Status != http.StatusTooManyRequests {
				t.Errorf("past the user's burst of 3: %s, want 429", r)
			}

			r := e.call(t, "PATCH", "/admin/credentials/"+id, root, `{"rateLimit": {"rate": 1, "per": "1h", "burst": 5}}`)
			want(t, "credential limit", r, 200)
			if !strings.Contains(string(r.Body), `"rateLimit":{"rate":1,"per":"1h","burst":5}`) {
				t.Errorf("PATCH answer lacks the limit: %s", r)
			}
			waitLimit("the credential's limit", "5")
			if r := e.call(t, "GET", "/admin/users/alice/credentials", root, ""); !strings.Contains(string(r.Body), `"rateLimit":{"rate":1,"per":"1h","burst":5}`) {
				t.Errorf("the credentials list does not show the limit: %s", r)
			}
			e.audit(t, "set_rate_limit", 1)

			want(t, "remove credential limit", e.call(t, "PATCH", "/admin/credentials/"+id, root, `{"rateLimit": null}`), 200)
			waitLimit("the user's limit again", "3")
			want(t, "remove user limit", e.call(t, "PATCH", "/admin/users/alice", root, `{"rateLimit": null}`), 200)
			waitLimit("configured again", "1000")

			for _, c := range []struct{ body, desc string }{
				{`{"rateLimit": {"rate": 0, "per": "1s"}}`, "rateLimit.rate: must be 1 to 1000000000"},
				{`{"rateLimit": {"rate": 5, "per": "soon"}}`, `rateLimit.per: "soon" must be a duration`},
				{`{"rateLimit": {"rate": 5, "per": "1s", "burst": -1}}`, "rateLimit.burst: must be 0"},
				{`{"rateLimit": {"rate": 5, "per": "1s", "cost": 2}}`, `unknown field "cost"`},
				{`{}`, "The request changes nothing: give rateLimit or quota"},
			} {
				r := e.call(t, "PATCH", "/admin/credentials/"+id, root, c.body)
				if d := wantError(t, "PATCH "+c.body, r, 400, "invalid_request"); !strings.Contains(d, c.desc) {
					t.Errorf("PATCH %s: %q, want it to contain %q", c.body, d, c.desc)
				}
			}
			r = e.call(t, "PATCH", "/admin/users/alice", root, `{"rateLimit": {"rate": 5, "per": "0s"}}`)
			if d := wantError(t, "PATCH user with per 0s", r, 400, "invalid_request"); !strings.Contains(d, "rateLimit.per") {
				t.Errorf("PATCH user with per 0s: %q", d)
			}
			if r := e.call(t, "PATCH", "/admin/credentials/cred_nosuch", root, `{"rateLimit": null}`); r.Status != 404 {
				t.Errorf("unknown credential: %s, want 404", r)
			}
		})
	}
}

// TestCredentialQuotaOverride: PATCH quota sets a credential's own quota,
// shown in the credentials list; bad input names the field.
func TestCredentialQuotaOverride(t *testing.T) {
	e := newEnv(t, "embedded", adminToken)
	e.user(t, "alice", []string{"orders"})
	e.key(t, "alice", "k")
	root := bearer(adminToken)
	id := e.credentials(t, root, "alice").find(t, func(c credential) bool { return c.Handle == "k" }).ID
	r := e.call(t, "PATCH", "/admin/credentials/"+id, root, `{"quota": {"requests": 7}}`)
	want(t, "set quota", r, 200)
	if !strings.Contains(string(r.Body), `"quota":{"requests":7}`) {
		t.Errorf("PATCH answer lacks the quota: %s", r)
	}
	if r := e.call(t, "GET", "/admin/users/alice/credentials", root, ""); !strings.Contains(string(r.Body), `"quota":{"requests":7}`) {
		t.Errorf("the credentials list does not show the quota: %s", r)
	}
	e.audit(t, "set_quota", 1)
	for _, c := range []struct{ body, desc string }{
		{`{"quota": {"requests": -1}}`, "quota.requests: must be 0"},
		{`{"quota": {"requests": 1, "per": "day"}}`, `unknown field "per"`},
	} {
		r := e.call(t, "PATCH", "/admin/credentials/"+id, root, c.body)
		if d := wantError(t, "PATCH "+c.body, r, 400, "invalid_request"); !strings.Contains(d, c.desc) {
			t.Errorf("PATCH %s: %q, want it to contain %q", c.body, d, c.desc)
		}
	}
	want(t, "remove quota", e.call(t, "PATCH", "/admin/credentials/"+id, root, `{"quota": null}`), 200)
	if r := e.call(t, "GET", "/admin/users/alice/credentials", root, ""); strings.Contains(string(r.Body), `"quota":`) {
		t.Errorf("the quota is still shown after removing it: %s", r)
	}
}
