package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/ratelimit"
)

func TestRateLimit(t *testing.T) {
	up := newUpstream(t, "up")
	gw := newGateway(t, fmt.Sprintf(`
routes:
  - {name: open, path_prefix: /open, upstream: %[1]s, auth: none, rate_limit: {rate: 1, per: 1m, burst: 2}}
  - {name: private, path_prefix: /private, upstream: %[1]s, api_set: ops, rate_limit: {rate: 1, per: 1m, burst: 1}}
  - {name: quiet, path_prefix: /quiet, upstream: %[1]s, auth: none, rate_limit: {rate: 100, headers: false}}
`, up.URL), Options{Authenticator: fixedAuth{}})
	addr := gw.Listener.Addr().String()

	for i, want := range []int{200, 200, 429} {
		before := up.hits.Load()
		resp, body := rawGet(t, addr, "/open")
		if resp.StatusCode != want {
			t.Fatalf("request %d: %d %s, want %d", i+1, resp.StatusCode, body, want)
		}
		if resp.Header.Get("Ratelimit-Limit") != "2" || resp.Header.Get("Ratelimit-Remaining") != strconv.Itoa(max(1-i, 0)) || resp.Header.Get("Ratelimit-Reset") == "" {
			t.Errorf("request %d: RateLimit headers %q %q %q", i+1, resp.Header.Get("Ratelimit-Limit"), resp.Header.Get("Ratelimit-Remaining"), resp.Header.Get("Ratelimit-Reset"))
		}
		if want == 429 {
			if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 || ra > 60 {
				t.Errorf("429 Retry-After %q, want 1..60 seconds", resp.Header.Get("Retry-After"))
			}
			if up.hits.Load() != before {
				t.Error("a limited request reached the upstream")
			}
		}
	}
	// Per credential: the authenticated client has its own bucket.
	if resp, _ := rawGet(t, addr, "/private", "Authorization: Bearer good"); resp.StatusCode != 200 {
		t.Errorf("first credentialed request: %d", resp.StatusCode)
	}
	if resp, _ := rawGet(t, addr, "/private", "Authorization: Bearer good"); resp.StatusCode != 429 {
		t.Errorf("second credentialed request: %d, want 429", resp.StatusCode)
	}
	// A refused credential is answered 401 before the limit counts.
	if resp, _ := rawGet(t, addr, "/private", "Authorization: Bearer bad"); resp.StatusCode != 401 {
		t.Errorf("bad credential: %d, want 401", resp.StatusCode)
	}
	resp, _ := rawGet(t, addr, "/quiet")
	if resp.StatusCode != 200 || resp.Header.Get("Ratelimit-Limit") != "" {
		t.Errorf("headers: false: %d with RateLimit-Limit %q", resp.StatusCode, resp.Header.Get("Ratelimit-Limit"))
	}
}

// countingAuth counts the credential checks that reach the authenticator.
type countingAuth struct {
	fixedAuth
	n atomic.Int64
}

func (c *countingAuth) Verify(ctx context.Context, authorization []string, need authz.Need, client netip.Addr) (*authz.Identity, error) {
	c.n.Add(1)
	return c.fixedAuth.Verify(ctx, authorization, need, client)
}

func TestFailureLimit(t *testing.T) {
	up := newUpstream(t, "up")
	auth := &countingAuth{}
	gw := newGateway(t, fmt.Sprintf(`
trusted_proxies: [127.0.0.1]
auth: {failure_limit: {rate: 1, per: 1m, burst: 3}}
routes:
  - {name: private, path_prefix: /private, upstream: %s, api_set: ops}
`, up.URL), Options{Authenticator: auth})
	addr := gw.Listener.Addr().String()
	from := func(ip string) string { return "X-Forwarded-For: " + ip }

	for i := range 4 {
		if resp, _ := rawGet(t, addr, "/private", "Authorization: Bearer bad", from("203.0.113.5")); resp.StatusCode != 401 {
			t.Fatalf("failure %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	before := auth.n.Load()
	resp, body := rawGet(t, addr, "/private", "Authorization: Bearer good", from("203.0.113.5"))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "too_many_requests") {
		t.Errorf("after the burst of failures: %d %s (Retry-After %q), want 429", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if auth.n.Load() != before {
		t.Error("a blocked address's credential was still checked")
	}
	if resp, _ := rawGet(t, addr, "/private", "Authorization: Bearer good", from("203.0.113.6")); resp.StatusCode != 200 {
		t.Errorf("another address: %d, want 200", resp.StatusCode)
	}
	if resp, _ := rawGet(t, addr, "/private", from("203.0.113.5")); resp.StatusCode != 401 {
		t.Errorf("blocked address without a credential: %d, want 401 (nothing to look up)", resp.StatusCode)
	}
}

// stallingLimiter answers only when the request's context ends, as a
// Redis call does when the client goes away in the middle of it.
type stallingLimiter struct{ called chan struct{} }

func (s stallingLimiter) Allow(ctx context.Context, _ string, _ ratelimit.Limit) (ratelimit.Decision, error) {
	close(s.called)
	<-ctx.Done()
	return ratelimit.Decision{}, fmt.Errorf("%w: %w", ratelimit.ErrUnavailable, ctx.Err())
}

// TestRateLimitClientGone: a client that goes away while its limit is
// being checked is not a store failure: the limit is not marked degraded
// and no fallback decision is counted.
func TestRateLimitClientGone(t *testing.T) {
	up := newUpstream(t, "up")
	lim := stallingLimiter{called: make(chan struct{})}
	gw := newGateway(t, fmt.Sprintf(`
routes:
  - {name: open, path_prefix: /open, upstream: %s, auth: none, rate_limit: {rate: 1, per: 1m, burst: 2}}
`, up.URL), Options{RateLimiter: lim})
	conn, err := net.Dial("tcp", gw.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("GET /open HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	<-lim.called
	conn.Close()
	// The handler's request context ends once the server notices the
	// closed connection; wait for the handler to have answered.
	testkit.Eventually(t, 5*time.Second, "the handler finishes after the client left", func() bool {
		return testutil.ToFloat64(gw.h.metrics.requests.WithLabelValues("open", "GET", "503", "proxy")) != 0
	})
	if got := testutil.ToFloat64(gw.h.metrics.limitDegraded); got != 0 {
		t.Errorf("keygate_ratelimit_degraded = %v after a client went away, want 0", got)
	}
	if got := testutil.ToFloat64(gw.h.state.Load().table.routes[0].metrics.limits[limitDegraded]); got != 0 {
		t.Errorf("degraded decisions = %v after a client went away, want 0", got)
	}
}

// rateAuth verifies "Bearer good" as fixedAuth does and "Bearer vip" as a
// credential with its own rate limit.
type rateAuth struct{ fixedAuth }

func (a rateAuth) Verify(ctx context.Context, authorization []string, need authz.Need, client netip.Addr) (*authz.Identity, error) {
	if len(authorization) == 1 && authorization[0] == "Bearer vip" {
		own := &authz.Rate{Rate: 1, Per: time.Minute, Burst: 4}
		return &authz.Identity{User: "vic", CredentialID: "cred_vip", Kind: authz.KindKeyToken, APISets: []string{"ops"}, Scopes: []string{"read"},
			CredentialRate: own, UserRate: own}, nil
	}
	return a.fixedAuth.Verify(ctx, authorization, need, client)
}

// TestAPISetLimitAndOverride: an API set's limit is shared by its routes
// and applies on top of a route's own; a credential's own limit replaces
// the configured one for that credential.
func TestAPISetLimitAndOverride(t *testing.T) {
	up := newUpstream(t, "up")
	gw := newGateway(t, fmt.Sprintf(`
routes:
  - {name: a, path_prefix: /a, upstream: %[1]s, api_set: ops, rate_limit: {rate: 1, per: 1m, burst: 2}}
  - {name: b, path_prefix: /b, upstream: %[1]s, api_set: ops}
api_sets:
  ops: {rate_limit: {rate: 1, per: 1m, burst: 3}}
`, up.URL), Options{Authenticator: rateAuth{}})
	addr := gw.Listener.Addr().String()
	for i, c := range []struct {
		path, auth  string
		want        int
		limit, left string
	}{
		{"/a", "good", 200, "2", "1"}, // route 1 left, set 2: the route's shown
		{"/a", "good", 200, "2", "0"},
		{"/a", "good", 429, "2", "0"}, // the route's limit; the set's is not spent
		{"/b", "good", 200, "3", "0"}, // the set's last
		{"/b", "good", 429, "3", "0"},
		{"/a", "vip", 200, "4", "3"}, // its own burst 4, on the route's limit and the set's alike
	} {
		resp, body := rawGet(t, addr, c.path, "Authorization: Bearer "+c.auth)
		if resp.StatusCode != c.want || resp.Header.Get("Ratelimit-Limit") != c.limit || resp.Header.Get("Ratelimit-Remaining") != c.left {
			t.Errorf("request %d (%s as %s): %d, RateLimit-Limit %q, -Remaining %q (%s); want %d, %s, %s", i+1, c.path, c.auth,
				resp.StatusCode, resp.Header.Get("Ratelimit-Limit"), resp.Header.Get("Ratelimit-Remaining"), body, c.want, c.limit, c.left)
		}
	}
}
