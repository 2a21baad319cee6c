package selfservice_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// from is an HTTP client whose connections come from 127.0.0.n, so that
// keygate (which trusts no proxy here) counts its requests against that
// address; it keeps cookies and does not follow redirects.
func from(n int) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(n))}}
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Transport:     &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// signInAnswer is what a password sign-in got back.
type signInAnswer struct {
	status     int
	retryAfter string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn tries user's password with c through one of keygate's three
// password sign-ins: HTTP Basic on the self-service API or the admin API,
// or the account pages' form.
func (e *env) signIn(t *testing.T, via string, c *http.Client, user, password string) signInAnswer {
	t.Helper()
	var req *http.Request
	switch via {
	case "self-service API":
		req, _ = http.NewRequestWithContext(t.Context(), "GET", e.base+"/user", nil)
		req.SetBasicAuth(user, password)
	case "admin API":
		req, _ = http.NewRequestWithContext(t.Context(), "GET", "http://"+e.g.AdminAddr().String()+"/admin/users", nil)
		req.SetBasicAuth(user, password)
	case "account pages":
		resp, err := c.Get(e.base + "/account/signin")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := csrfField.FindSubmatch(b)
		if m == nil {
			t.Fatalf("no CSRF token on the sign-in page: %d %s", resp.StatusCode, b)
		}
		form := url.Values{"username": {user}, "password": {password}, "csrf": {string(m[1])}}
		req, _ = http.NewRequestWithContext(t.Context(), "POST", e.base+"/account/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	default:
		t.Fatalf("unknown sign-in %q", via)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("sign-in through the %s: %v", via, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return signInAnswer{resp.StatusCode, resp.Header.Get("Retry-After")}
}

// passwordHashes reads keygate_password_checks_total from the admin
// listener's /metrics: the sign-ins that hashed a password (ok, invalid).
func (e *env) passwordHashes(t *testing.T) int {
	t.Helper()
	resp, err := http.Get("http://" + e.g.HealthAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, seen := 0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for _, result := range []string{"ok", "invalid"} {
			if v, ok := strings.CutPrefix(line, `keygate_password_checks_total{result="`+result+`"} `); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("metric line %q: %v", line, err)
				}
				n += int(f)
				seen = true
			}
		}
	}
	if !seen {
		t.Fatal("/metrics has no keygate_password_checks_total")
	}
	return n
}

// TestPasswordLimitsHoldUnderConcurrency: 40 wrong passwords for one user
// sent at once from 40 addresses are hashed at most
// max_password_failures_per_user (10) times, the others refused with 429
// (or, should the process's turns stay taken past the queue timeout on a
// slow machine, 503: refused and not hashed either, so not counted);
// one at a time afterwards, the wrong passwords that make up the limit
// are evaluated, and then the right password gets 429.
func TestPasswordLimitsHoldUnderConcurrency(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		e.user(t, "alice", []string{"orders"}, []string{"read"})
		const limit = 10 // config.DefaultMaxPasswordFailuresUser
		start := make(chan struct{})
		answers := make([]signInAnswer, 40)
		var wg sync.WaitGroup
		for i := range answers {
			c := from(2 + i)
			wg.Go(func() {
				<-start
				answers[i] = e.signIn(t, "self-service API", c, "alice", fmt.Sprintf("wrong-password-%d", i))
			})
		}
		close(start)
		wg.Wait()
		counts := map[int]int{}
		for _, a := range answers {
			counts[a.status]++
			if a.status == http.StatusTooManyRequests && a.retryAfter != "900" {
				t.Errorf("429 with Retry-After %q, want 900 (the failure window)", a.retryAfter)
			}
			if a.status == http.StatusServiceUnavailable && a.retryAfter != "1" {
				t.Errorf("503 with Retry-After %q, want 1", a.retryAfter)
			}
		}
		if counts[401] > limit || counts[401]+counts[429]+counts[503] != 40 {
			t.Errorf("40 wrong passwords at once: got %v, want at most %d 401 and the rest 429 (or 503)", counts, limit)
		}
		if got := e.passwordHashes(t); got > limit {
			t.Errorf("passwords hashed: got %d, want at most %d", got, limit)
		}
		// Those refused with 503 were not guesses: one at a time, the
		// user has exactly the rest of the limit.
		wrong := counts[401]
		for i := 0; wrong < limit+1 && i <= limit; i++ {
			a := e.signIn(t, "self-service API", from(100), "alice", "yet-another-wrong-password")
			if a.status != http.StatusUnauthorized {
				break
			}
			wrong++
		}
		if wrong != limit {
			t.Errorf("wrong passwords evaluated in all: got %d, want %d", wrong, limit)
		}
		if got := e.passwordHashes(t); got != limit {
			t.Errorf("passwords hashed in all: got %d, want %d", got, limit)
		}
		if a := e.signIn(t, "self-service API", from(100), "alice", "pw-alice-secret"); a.status != http.StatusTooManyRequests || a.retryAfter != "900" {
			t.Errorf("right password afterwards: %d Retry-After %q, want 429 and 900", a.status, a.retryAfter)
		}
	})
}

// TestPasswordSignInsAtOnce: every password sign-in (self-service API,
// admin API, account pages) answers 503 with Retry-After when the process
// has no turn to hash within password_check_queue_timeout, and 429 with
// Retry-After when the address has max_concurrent_password_checks_per_address
// sign-ins in progress. Requests are sent in rounds of 8 at once until
// the limit shows (a round sent at once overlaps almost always).
func TestPasswordSignInsAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name, selfService string
		oneAddress        bool
		status            int
	}{
		{"process", "max_concurrent_password_checks: 1, password_check_queue_timeout: 1ms", false, http.StatusServiceUnavailable},
		{"address", "max_concurrent_password_checks_per_address: 1, max_password_failures_per_address: 10000", true, http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "embedded", "self_service: {enabled: true, "+tc.selfService+"}\naccount: {enabled: true}")
			for _, via := range []string{"self-service API", "admin API", "account pages"} {
				t.Run(via, func(t *testing.T) {
					for round := 0; round < 50; round++ {
						start := make(chan struct{})
						answers := make([]signInAnswer, 8)
						var wg sync.WaitGroup
						for i := range answers {
							n := 2 + i
							if tc.oneAddress {
								n = 2
							}
							c := from(n)
							wg.Go(func() {
								<-start
								answers[i] = e.signIn(t, via, c, fmt.Sprintf("nobody-%d-%d", round, i), "wrong-password")
							})
						}
						close(start)
						wg.Wait()
						for _, a := range answers {
							switch a.status {
							case tc.status:
								if a.retryAfter != "1" {
									t.Fatalf("%d with Retry-After %q, want 1", a.status, a.retryAfter)
								}
								return
							case http.StatusUnauthorized:
							default:
								t.Fatalf("answer %d, want 401 or %d", a.status, tc.status)
							}
						}
					}
					t.Errorf("50 rounds of 8 sign-ins at once: never %d", tc.status)
				})
			}
		})
	}
}
