package proxy

import (
	"fmt"
	"strconv"
	"testing"
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
