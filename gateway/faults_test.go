package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testkit"
)

// The fault suite's tests in this package are named TestFault…: a real
// redis-server (or Sentinel setup) and real upstreams on loopback, under
// a steady load. They run for a few seconds each; with
// KEYGATE_FAULTS_LONG=1 (scripts/faults.sh) for minutes. They assert what
// every request got and log what it cost as figures (testkit.Figure),
// never as pass/fail conditions.

// load is a set of client goroutines sending requests until halted (or
// maxPerWorker each, which bounds the load whatever happens).
type load struct {
	client *http.Client
	stop   chan struct{}
	wg     sync.WaitGroup
	errs   atomic.Int64 // requests that got no HTTP answer
	pause  time.Duration
	halted sync.Once
}

const maxPerWorker = 200_000

// newLoad makes a load whose workers wait pause between requests (so
// that a loaded machine still runs the test's other goroutines).
func newLoad(pause time.Duration) *load {
	return &load{
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}},
		stop:   make(chan struct{}),
		pause:  pause,
	}
}

// get sends GET url with authorization (when not empty) and reads the
// whole answer.
func (l *load) get(url, authorization string) (int, http.Header, error) {
	req, _ := http.NewRequest("GET", url, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, err
}

// worker starts a goroutine whose request i goes to the url with the
// authorization pick returns, its answer and latency recorded in the
// outcomes pick returns.
func (l *load) worker(pick func(i int) (url, authorization string, out *outcomes)) {
	l.wg.Go(func() {
		for i := range maxPerWorker {
			select {
			case <-l.stop:
				return
			default:
			}
			url, authorization, out := pick(i)
			t0 := time.Now()
			code, h, err := l.get(url, authorization)
			if err != nil {
				l.errs.Add(1)
				continue
			}
			out.timed(code, h, time.Since(t0))
			time.Sleep(l.pause)
		}
	})
}

// halt stops the workers and waits for them; halting again does nothing.
func (l *load) halt() {
	l.halted.Do(func() {
		close(l.stop)
		l.wg.Wait()
		l.client.CloseIdleConnections()
	})
}

// TestFaultRedisOutage kills the redis-server under a steady load and
// starts it again (with its data: append-only file, as a production Redis
// keeps it). Credentials verified before the kill keep getting 200 from
// the cache throughout (past cache_ttl, within stale_if_error); credentials
// never seen get 503 with Retry-After, never 401; unknown ones 401 or 503;
// nothing reaches the upstream without a valid credential; and after Redis
// returns, a credential never seen verifies again by itself. Figures: the
// cached credentials' p50 and p99 during the outage against before it, the
// 503s' p99, and the time from Redis answering again to the first new
// verification.
func TestFaultRedisOutage(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	guard := &guardedUpstream{valid: map[string]bool{}}
	up := httptest.NewServer(guard)
	t.Cleanup(up.Close)
	g, _ := start(t, parse(t, redisGateway(srv.Addr(), redistest.Prefix(t), up.URL,
		"  cache_ttl: 200ms\n  stale_if_error: 1h\n  failure_limit: {rate: -1}")))
	url := "http://" + g.Addr().String() + "/orders/1"
	newAlice(t, g.Auth())
	key := func(handle string) string {
		t.Helper()
		tok, cred, err := g.Auth().Accounts.CreateKey(t.Context(), "alice", authz.KeySpec{Handle: handle})
		if err != nil {
			t.Fatalf("CreateKey %s: %v", handle, err)
		}
		guard.allow(cred.ID)
		return "Bearer " + tok
	}
	var warm, cold, other []string
	for i := range 4 {
		warm = append(warm, key(fmt.Sprintf("warm%d", i)))
	}
	for i := range 40 {
		cold = append(cold, key(fmt.Sprintf("cold%d", i)))
		other = append(other, key(fmt.Sprintf("other%d", i)))
	}
	fresh := key("fresh") // asked for only once Redis is back
	l := newLoad(2 * time.Millisecond)
	defer l.halt()
	for _, w := range warm {
		if code, _, err := l.get(url, w); err != nil || code != 200 {
			t.Fatalf("warm-up: %d %v", code, err)
		}
	}

	// phase: 0 before the kill, 1 during the outage, 2 after the restart.
	// The same load in every phase: the workers on credentials never seen
	// use others before the kill.
	var phase atomic.Int32
	var warmOut, coldOut [3]outcomes
	var unknownOut outcomes
	for w := range 4 {
		l.worker(func(i int) (string, string, *outcomes) { return url, warm[(w+i)%len(warm)], &warmOut[phase.Load()] })
	}
	for w := range 2 {
		l.worker(func(i int) (string, string, *outcomes) {
			if p := phase.Load(); p > 0 {
				return url, cold[(w*20+i)%len(cold)], &coldOut[p]
			}
			return url, other[(w*20+i)%len(other)], &coldOut[0]
		})
	}
	l.worker(func(int) (string, string, *outcomes) {
		return url, "Bearer " + authz.NewToken(authz.KindKeyToken), &unknownOut
	})
	time.Sleep(testkit.Span(time.Second, 20*time.Second))

	srv.Kill()
	killed := time.Now()
	phase.Store(1)
	time.Sleep(testkit.Span(2*time.Second, 60*time.Second))

	srv.Restart()
	back := time.Now()
	outage := back.Sub(killed)
	phase.Store(2)
	testkit.Eventually(t, 20*time.Second, "a credential never seen verifying after Redis returned", func() bool {
		code, _, err := l.get(url, fresh)
		return err == nil && code == 200
	})
	recovered := time.Since(back)
	time.Sleep(testkit.Span(500*time.Millisecond, 10*time.Second))
	l.halt()

	before, during := warmOut[0].latencies(), warmOut[1].latencies()
	testkit.Figure(t, "outage", "%s under load", outage.Round(100*time.Millisecond))
	testkit.Figure(t, "cached p50 during/before", "%s (%s / %s)", testkit.Ratio(testkit.Quantile(during, .5), testkit.Quantile(before, .5)),
		testkit.Quantile(during, .5).Round(10*time.Microsecond), testkit.Quantile(before, .5).Round(10*time.Microsecond))
	testkit.Figure(t, "cached p99 during/before", "%s (%s / %s)", testkit.Ratio(testkit.Quantile(during, .99), testkit.Quantile(before, .99)),
		testkit.Quantile(during, .99).Round(10*time.Microsecond), testkit.Quantile(before, .99).Round(10*time.Microsecond))
	testkit.Figure(t, "cached during outage", "%d of %d answered 200", warmOut[1].count(200), len(during))
	unseen := coldOut[1].latencies()
	testkit.Figure(t, "unseen during outage", "%d × 503, p50 %s, p99 %s (cached p50 before: %s)", coldOut[1].count(503),
		testkit.Quantile(unseen, .5).Round(10*time.Microsecond), testkit.Quantile(unseen, .99).Round(10*time.Microsecond),
		testkit.Quantile(before, .5).Round(10*time.Microsecond))
	testkit.Figure(t, "recovery", "%s from Redis answering to the first new verification", recovered.Round(time.Millisecond))
	t.Logf("outcomes: cached %s / %s / %s; unseen %s / %s; unknown %s; client errors %d",
		&warmOut[0], &warmOut[1], &warmOut[2], &coldOut[1], &coldOut[2], &unknownOut, l.errs.Load())

	for p := range warmOut {
		if bad := warmOut[p].others(200); len(bad) > 0 {
			t.Errorf("cached credentials, phase %d: answers other than 200: %v", p, bad)
		}
	}
	if warmOut[1].count(200) == 0 || coldOut[1].count(503) == 0 {
		t.Errorf("no cached request or no 503 during the outage (%s, %s): the test proves nothing", &warmOut[1], &coldOut[1])
	}
	if bad := coldOut[1].others(503); len(bad) > 0 {
		t.Errorf("credentials never seen, Redis down: answers other than 503: %v", bad)
	}
	if bad := coldOut[0].others(200); len(bad) > 0 {
		t.Errorf("other credentials, before the kill: answers other than 200: %v", bad)
	}
	if bad := coldOut[2].others(200, 503); len(bad) > 0 {
		t.Errorf("credentials never seen, Redis back: answers other than 200 and 503: %v", bad)
	}
	if bad := unknownOut.others(401, 503); len(bad) > 0 {
		t.Errorf("unknown credentials: answers other than 401 and 503: %v", bad)
	}
	for name, o := range map[string]*outcomes{"unseen": &coldOut[1], "unknown": &unknownOut} {
		if o.noRetryAfter > 0 {
			t.Errorf("%s credentials: %d answers 503 without Retry-After", name, o.noRetryAfter)
		}
	}
	if n := l.errs.Load(); n > 0 {
		t.Errorf("%d requests got no HTTP answer", n)
	}
	guard.check(t)
}
