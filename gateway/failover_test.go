package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/proxy"
)

// sentinelGateway is the config of a gateway on a Sentinel-managed Redis.
// cache_ttl is long, so that a revocation seen within a few seconds came
// through publish/subscribe and not by expiry. The failure limit is off:
// the test's unknown credentials all come from 127.0.0.1.
func sentinelGateway(sn *redistest.Sentinel, prefix, upstream string) string {
	addrs := make([]string, len(sn.Sentinels))
	for i, a := range sn.Addrs() {
		addrs[i] = strconv.Quote(a)
	}
	return fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
store:
  driver: redis
  redis: {addrs: [%s], master_name: %q, key_prefix: %q, dial_timeout: 1s}
auth:
  digest_keys: [{id: t1, secret: "a-test-digest-key-of-at-least-32-bytes"}]
  cache_ttl: 1m
  failure_limit: {rate: -1}
routes:
  - {name: orders, path_prefix: /orders, upstream: %s, api_set: orders}
`, strings.Join(addrs, ", "), sn.MasterName, prefix, upstream)
}

// outcomes counts the answers to one kind of request, by status, and the
// 503s without Retry-After.
type outcomes struct {
	mu           sync.Mutex
	byStatus     map[int]int
	noRetryAfter int
	first503     time.Time // observation only, for the log
	last503      time.Time
	lat          []time.Duration // of the answers recorded with timed
}

func (o *outcomes) add(code int, h http.Header) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.addLocked(code, h)
}

// timed is add for an answer that took d.
func (o *outcomes) timed(code int, h http.Header, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lat = append(o.lat, d)
	o.addLocked(code, h)
}

// latencies is a copy of the latencies recorded with timed.
func (o *outcomes) latencies() []time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.lat)
}

func (o *outcomes) addLocked(code int, h http.Header) {
	if o.byStatus == nil {
		o.byStatus = map[int]int{}
	}
	o.byStatus[code]++
	if code == http.StatusServiceUnavailable {
		if h.Get("Retry-After") == "" {
			o.noRetryAfter++
		}
		if o.first503.IsZero() {
			o.first503 = time.Now()
		}
		o.last503 = time.Now()
	}
}

func (o *outcomes) count(code int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.byStatus[code]
}

// others returns the counts of every status not in allowed.
func (o *outcomes) others(allowed ...int) map[int]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[int]int{}
	for code, n := range o.byStatus {
		if !slices.Contains(allowed, code) {
			out[code] = n
		}
	}
	return out
}

func (o *outcomes) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return fmt.Sprint(o.byStatus)
}

// guardedUpstream answers 200 and records every request that reaches it
// without the identity of a credential in valid, or with the client's
// Authorization header.
type guardedUpstream struct {
	mu    sync.Mutex
	valid map[string]bool // credential ids
	hits  int
	bad   []string
}

func (u *guardedUpstream) allow(id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.valid[id] = true
}

func (u *guardedUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(proxy.HeaderCredentialID)
	u.mu.Lock()
	u.hits++
	if !u.valid[id] || r.Header.Get("Authorization") != "" {
		u.bad = append(u.bad, fmt.Sprintf("credential %q, Authorization %q", id, r.Header.Get("Authorization")))
	}
	u.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

// check fails the test if a request reached the upstream without a valid
// credential.
func (u *guardedUpstream) check(t *testing.T) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.bad) > 0 {
		t.Errorf("requests reached the upstream without a valid credential: %d, first %s", len(u.bad), u.bad[0])
	}
}

// TestFaultSentinelFailover runs two keygate gateways on a real Sentinel setup
// (master, replica, three sentinels) under a steady load, kills the master
// with SIGKILL and checks what every request got while the sentinels
// promote the replica: credentials verified before the kill keep working
// from the cache; credentials keygate has not seen get 503 with
// Retry-After, never 401; nothing reaches the upstream without a valid
// credential; and afterwards keygate works again by itself: new
// credentials verify, writes succeed, readiness is back and a revocation
// on one gateway reaches the other through the resubscribed channel.
func TestFaultSentinelFailover(t *testing.T) {
	sn := redistest.StartSentinel(t)
	guard := &guardedUpstream{valid: map[string]bool{}}
	up := httptest.NewServer(guard)
	t.Cleanup(up.Close)
	y := sentinelGateway(sn, redistest.Prefix(t), up.URL)
	g1, _ := start(t, parse(t, y))
	g2, _ := start(t, parse(t, y))
	url1 := "http://" + g1.Addr().String() + "/orders/1"
	url2 := "http://" + g2.Addr().String() + "/orders/1"
	ctx := t.Context()
	newAlice(t, g1.Auth())
	newKey := func(g *Gateway, handle string) string {
		t.Helper()
		tok, cred, err := g.Auth().Accounts.CreateKey(ctx, "alice", authz.KeySpec{Handle: handle})
		if err != nil {
			t.Fatalf("CreateKey %s: %v", handle, err)
		}
		guard.allow(cred.ID)
		return "Bearer " + tok
	}
	var warm, cold []string
	for i := range 4 {
		warm = append(warm, newKey(g1, fmt.Sprintf("warm%d", i)))
	}
	for i := range 40 {
		cold = append(cold, newKey(g1, fmt.Sprintf("cold%d", i)))
	}
	fresh := newKey(g1, "fresh") // asked for only once the sentinels have switched
	for _, w := range warm {
		if code, _, body := do(t, "GET", url1, w); code != 200 {
			t.Fatalf("warm-up: %d %s", code, body)
		}
	}

	l := newLoad(2 * time.Millisecond)
	defer l.halt()
	get := l.get

	// Phases: 0 before the kill, 1 from the kill until a credential never
	// seen before verifies, 2 after.
	var warmOut [3]outcomes
	var coldOut, unknownOut, readyOut outcomes
	var coldVerified atomic.Bool // a cold credential got 200 after the kill
	for w := range 4 {
		l.worker(func(p, i int) (string, string, *outcomes) { return url1, warm[(w+i)%len(warm)], &warmOut[p] })
	}
	l.wg.Go(func() { // readiness of g1, polled throughout
		for {
			select {
			case <-l.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if code, h, err := get("http://"+g1.HealthAddr().String()+"/readyz", ""); err == nil && l.phase.Load() == 1 {
				readyOut.add(code, h)
			}
		}
	})
	time.Sleep(testkit.Span(200*time.Millisecond, 20*time.Second)) // some load before the kill

	dead := sn.Master.Addr()
	l.advance(t)
	killed := time.Now()
	sn.Master.Kill()
	for w := range 4 {
		l.worker(func(_, i int) (string, string, *outcomes) {
			if i%3 == 2 {
				return url1, "Bearer " + authz.NewToken(authz.KindKeyToken), &unknownOut
			}
			return url1, cold[(w*10+i)%len(cold)], &coldOut
		})
	}
	// While every sentinel still names the dead master, the store cannot
	// answer: readiness must say so (keygate_store_up 0) and stay ready,
	// since the replica still serves what it has cached.
	readyCode, _, _ := get("http://"+g1.HealthAddr().String()+"/readyz", "")
	storeUp := gaugeValue(t, g1, "keygate_store_up", "")
	if reported := sn.ReportedMasters(ctx); !slices.ContainsFunc(reported, func(a string) bool { return a != dead }) {
		if readyCode != 200 || storeUp != 0 {
			t.Errorf("/readyz with the master dead and not yet replaced: %d, keygate_store_up %v; want 200 and 0", readyCode, storeUp)
		}
	} else {
		t.Logf("the sentinels had already switched (%v) when /readyz answered %d", reported, readyCode)
	}
	// Recovery, by itself: a credential keygate has never seen verifies.
	sn.WaitFailover(t, 20*time.Second)
	switched := time.Since(killed)
	testkit.Eventually(t, 20*time.Second, "after the failover, a credential not seen before verifying", func() bool {
		if coldVerified.Load() {
			return true
		}
		if code, _, err := get(url1, fresh); err == nil && code == 200 {
			coldVerified.Store(true)
		}
		return coldVerified.Load()
	})
	recovered := time.Since(killed)
	l.advance(t)
	time.Sleep(testkit.Span(200*time.Millisecond, 20*time.Second)) // some load after recovery
	l.halt()

	testkit.Figure(t, "sentinels switched", "%s after the kill (down-after %s)", switched.Round(time.Millisecond), redistest.SentinelDownAfter)
	testkit.Figure(t, "first new verification", "%s after the kill", recovered.Round(time.Millisecond))
	testkit.Figure(t, "unseen during failover", "%d × 503, from %s to %s after the kill", coldOut.count(503),
		coldOut.first503.Sub(killed).Round(time.Millisecond), coldOut.last503.Sub(killed).Round(time.Millisecond))
	before, during := warmOut[0].latencies(), warmOut[1].latencies()
	testkit.Figure(t, "cached during failover", "%d × 200, p50 %s of before, p99 %s of before", warmOut[1].count(200),
		testkit.Ratio(testkit.Quantile(during, .5), testkit.Quantile(before, .5)), testkit.Ratio(testkit.Quantile(during, .99), testkit.Quantile(before, .99)))
	t.Logf("/readyz during the outage %s", &readyOut)
	t.Logf("outcomes: warm before %s, during %s, after %s; cold %s; unknown %s; client errors %d; upstream hits %d",
		&warmOut[0], &warmOut[1], &warmOut[2], &coldOut, &unknownOut, l.errs.Load(), guard.hits)

	// Cached credentials never noticed.
	for p := range warmOut {
		if bad := warmOut[p].others(200); len(bad) > 0 {
			t.Errorf("cached credentials, phase %d: answers other than 200: %v", p, bad)
		}
	}
	if warmOut[1].count(200) == 0 {
		t.Errorf("no request with a cached credential ran during the outage: the test proves nothing")
	}
	// Unseen credentials: 503 while unverifiable, never 401.
	if bad := coldOut.others(200, 503); len(bad) > 0 {
		t.Errorf("valid credentials not seen before the kill: answers other than 200 and 503: %v (401 would be a lie)", bad)
	}
	if coldOut.count(503) == 0 {
		t.Errorf("no 503 for credentials not seen before: the outage was not observed")
	}
	if bad := unknownOut.others(401, 503); len(bad) > 0 {
		t.Errorf("unknown credentials: answers other than 401 and 503: %v", bad)
	}
	for name, o := range map[string]*outcomes{"cold": &coldOut, "unknown": &unknownOut} {
		if o.noRetryAfter > 0 {
			t.Errorf("%s credentials: %d answers 503 without Retry-After", name, o.noRetryAfter)
		}
	}
	if n := l.errs.Load(); n > 0 {
		t.Errorf("%d requests failed at the HTTP level", n)
	}
	// The upstream saw exactly the 200s, each with a valid credential.
	guard.check(t)
	guard.mu.Lock()
	hits := guard.hits
	guard.mu.Unlock()
	ok200 := coldOut.count(200) + unknownOut.count(200) + 1 // + the fresh credential's
	for i := range warmOut {
		ok200 += warmOut[i].count(200)
	}
	if hits != ok200+len(warm) { // + the warm-up
		t.Errorf("upstream hits: %d, want %d (one per 200 answered)", hits, ok200+len(warm))
	}

	// Both gateways resubscribed after the failover.
	for i, g := range []*Gateway{g1, g2} {
		// The subscription comes back by itself, with a backoff of up to
		// a second between attempts.
		var m []string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			_, _, metrics := do(t, "GET", "http://"+g.HealthAddr().String()+"/metrics", "")
			if m = regexp.MustCompile(`(?m)^keygate_store_pubsub_resubscribes_total (\d+)$`).FindStringSubmatch(metrics); m != nil && m[1] != "0" {
				break
			}
		}
		if m == nil || m[1] == "0" {
			t.Errorf("gateway %d: keygate_store_pubsub_resubscribes_total %v 10s after the failover, want at least 1", i+1, m)
		}
		waitStatus(t, "http://"+g.HealthAddr().String()+"/readyz", 200)
	}
	// Writes work and reach the other gateway; a revocation on one reaches
	// the other's cache through publish/subscribe (cache_ttl is a minute).
	after := newKey(g1, "after")
	if code, _, body := do(t, "GET", url2, after); code != 200 {
		t.Fatalf("key created on gateway 1 after the failover, on gateway 2: %d %s", code, body)
	}
	if err := g1.Auth().Accounts.DeleteKey(ctx, "alice", "after"); err != nil {
		t.Fatalf("DeleteKey after the failover: %v", err)
	}
	waitCode(t, 5*time.Second, "gateway 2 refusing (401) a key deleted on gateway 1 (cache_ttl is 1m: the invalidation did not arrive)", url2, after, 401)
}
