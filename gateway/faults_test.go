package gateway

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/echo"
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
	// gate holds requests back while advance changes the phase.
	gate sync.RWMutex
	// phase is the test's phase (0 before the fault, then up by one for
	// each advance); inPhase counts the requests of each in flight.
	phase   atomic.Int32
	inPhase [4]atomic.Int64
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

// worker starts a goroutine whose request i, sent in phase p, goes to the
// url with the authorization pick returns, its answer and latency
// recorded in the outcomes pick returns.
func (l *load) worker(pick func(p, i int) (url, authorization string, out *outcomes)) {
	l.wg.Go(func() {
		for i := range maxPerWorker {
			select {
			case <-l.stop:
				return
			default:
			}
			p := l.enter()
			url, authorization, out := pick(p, i)
			t0 := time.Now()
			code, h, err := l.get(url, authorization)
			if err != nil {
				l.errs.Add(1)
			} else {
				out.timed(code, h, time.Since(t0))
			}
			l.inPhase[p].Add(-1)
			time.Sleep(l.pause)
		}
	})
}

// enter counts a request in the current phase, and returns the phase.
func (l *load) enter() int {
	l.gate.RLock()
	defer l.gate.RUnlock()
	p := l.phase.Load()
	l.inPhase[p].Add(1)
	return int(p)
}

// advance moves the load to its next phase and waits until no request of
// the previous one is in flight, then makes the faults: no request of the
// new phase starts before they are made, so each meets only requests of
// its own phase.
func (l *load) advance(t *testing.T, faults ...func()) {
	t.Helper()
	l.gate.Lock()
	defer l.gate.Unlock()
	p := l.phase.Add(1) - 1
	testkit.Eventually(t, 20*time.Second, "the requests of the previous phase answered", func() bool { return l.inPhase[p].Load() == 0 })
	for _, f := range faults {
		f()
	}
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

	// Phases: 0 before the kill, 1 during the outage, 2 after the restart.
	// The same load in every phase: the workers on credentials never seen
	// use others before the kill.
	var warmOut, coldOut [3]outcomes
	var unknownOut outcomes
	for w := range 4 {
		l.worker(func(p, i int) (string, string, *outcomes) { return url, warm[(w+i)%len(warm)], &warmOut[p] })
	}
	for w := range 2 {
		l.worker(func(p, i int) (string, string, *outcomes) {
			if p > 0 {
				return url, cold[(w*20+i)%len(cold)], &coldOut[p]
			}
			return url, other[(w*20+i)%len(other)], &coldOut[0]
		})
	}
	l.worker(func(int, int) (string, string, *outcomes) {
		return url, "Bearer " + authz.NewToken(authz.KindKeyToken), &unknownOut
	})
	time.Sleep(testkit.Span(time.Second, 10*time.Second))

	srv.Kill()
	killed := time.Now()
	l.advance(t) // the requests still answered from before the kill had cached credentials
	time.Sleep(testkit.Span(2*time.Second, 30*time.Second))

	l.advance(t)
	srv.Restart()
	back := time.Now()
	outage := back.Sub(killed)
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

// halfBody answers with headers promising 100 bytes, sends 50 and closes
// the connection, as an upstream that dies mid-response.
var halfBody = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 50))
	_ = buf.Flush()
})

// restartable is an upstream on a fixed port that can die (its listener
// and every connection closed) and come back.
type restartable struct {
	t    *testing.T
	addr string
	srv  *httptest.Server
}

func newRestartable(t *testing.T) *restartable {
	r := &restartable{t: t, srv: httptest.NewServer(echo.Handler{})}
	r.addr = r.srv.Listener.Addr().String()
	t.Cleanup(func() { r.srv.Close() })
	return r
}

func (r *restartable) die() { r.srv.CloseClientConnections(); r.srv.Close() }

func (r *restartable) restart() {
	var ln net.Listener
	testkit.Eventually(r.t, 5*time.Second, "the upstream's port free again", func() bool {
		var err error
		ln, err = net.Listen("tcp", r.addr)
		return err == nil
	})
	r.srv = httptest.NewUnstartedServer(echo.Handler{})
	r.srv.Listener.Close()
	r.srv.Listener = ln
	r.srv.Start()
}

// TestFaultUpstreams runs a steady load on four routes of one gateway:
// one to a healthy upstream, one to an upstream that never answers
// (route timeout 300ms), one to an upstream that closes after half the
// body, and one to an upstream that dies and comes back on its port.
// The healthy route answers 200 throughout; the hanging one 504; the
// half body cuts the client's connection and is counted as an aborted
// upstream exchange, once each; the dead upstream gets 502, then 200 once
// it is back; and nothing stays in flight. Figures: the healthy route's
// p50 and p99 while the others fail against before, and the time from the
// upstream's return to its first 200.
func TestFaultUpstreams(t *testing.T) {
	healthy := echoUpstream(t)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) }) // before hang.Close, which waits for its handlers
	half := httptest.NewServer(halfBody)
	t.Cleanup(half.Close)
	dies := newRestartable(t)
	g, _ := start(t, parse(t, fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
routes:
  - {name: healthy, path_prefix: /healthy, upstream: %s, auth: none}
  - {name: hang, path_prefix: /hang, upstream: %s, auth: none, timeout: 300ms}
  - {name: half, path_prefix: /half, upstream: %s, auth: none}
  - {name: dies, path_prefix: /dies, upstream: http://%s, auth: none}
`, healthy.URL, hang.URL, half.URL, dies.addr)))
	base := "http://" + g.Addr().String()
	health := "http://" + g.HealthAddr().String()

	l := newLoad(2 * time.Millisecond)
	defer l.halt()
	// Phases: 0 before the faults, 1 during, 2 after the upstream came back.
	var healthyOut, diesOut [3]outcomes
	var hangOut outcomes
	for range 2 {
		l.worker(func(p, _ int) (string, string, *outcomes) { return base + "/healthy/x", "", &healthyOut[p] })
	}
	l.worker(func(p, _ int) (string, string, *outcomes) { return base + "/dies/x", "", &diesOut[p] })
	time.Sleep(testkit.Span(time.Second, 10*time.Second))

	l.advance(t, dies.die)
	for range 2 {
		l.worker(func(int, int) (string, string, *outcomes) { return base + "/hang/x", "", &hangOut })
	}
	// The half bodies, each its own connection, since each is cut.
	var halfSent, halfCut atomic.Int64
	halfDone := make(chan struct{})
	go func() {
		defer close(halfDone)
		for l.phase.Load() == 1 {
			halfSent.Add(1)
			resp, err := http.Get(base + "/half/x")
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err != nil {
				halfCut.Add(1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	time.Sleep(testkit.Span(2*time.Second, 30*time.Second))

	l.advance(t)
	dies.restart()
	back := time.Now()
	<-halfDone
	testkit.Eventually(t, 10*time.Second, "the upstream answering through keygate after it came back", func() bool {
		return diesOut[2].count(200) > 0
	})
	recovered := time.Since(back)
	time.Sleep(testkit.Span(200*time.Millisecond, 5*time.Second))
	l.halt()

	before, during := healthyOut[0].latencies(), healthyOut[1].latencies()
	testkit.Figure(t, "healthy route p50 during/before", "%s", testkit.Ratio(testkit.Quantile(during, .5), testkit.Quantile(before, .5)))
	testkit.Figure(t, "healthy route p99 during/before", "%s", testkit.Ratio(testkit.Quantile(during, .99), testkit.Quantile(before, .99)))
	testkit.Figure(t, "dead upstream", "%d × 502; first 200 %s after it came back", diesOut[1].count(502), recovered.Round(time.Millisecond))
	testkit.Figure(t, "hanging upstream", "%d × 504, p50 %s (route timeout 300ms)", hangOut.count(504), testkit.Quantile(hangOut.latencies(), .5).Round(time.Millisecond))
	testkit.Figure(t, "half bodies", "%d of %d cut", halfCut.Load(), halfSent.Load())
	t.Logf("outcomes: healthy %s / %s / %s; dies %s / %s / %s; hang %s; client errors %d",
		&healthyOut[0], &healthyOut[1], &healthyOut[2], &diesOut[0], &diesOut[1], &diesOut[2], &hangOut, l.errs.Load())

	for p := range healthyOut {
		if bad := healthyOut[p].others(200); len(bad) > 0 {
			t.Errorf("healthy route, phase %d: answers other than 200: %v", p, bad)
		}
	}
	if bad := diesOut[0].others(200); len(bad) > 0 {
		t.Errorf("upstream before it died: answers other than 200: %v", bad)
	}
	if bad := diesOut[1].others(502); len(bad) > 0 || diesOut[1].count(502) == 0 {
		t.Errorf("upstream dead: answers %s, want only 502", &diesOut[1])
	}
	if bad := diesOut[2].others(200, 502); len(bad) > 0 {
		t.Errorf("upstream back: answers other than 200 and 502: %v", bad)
	}
	if bad := hangOut.others(504); len(bad) > 0 || hangOut.count(504) == 0 {
		t.Errorf("hanging upstream: answers %s, want only 504", &hangOut)
	}
	if n := l.errs.Load(); n > 0 {
		t.Errorf("%d requests to whole upstreams got no HTTP answer", n)
	}
	if halfCut.Load() != halfSent.Load() || halfSent.Load() == 0 {
		t.Errorf("half bodies: %d of %d cut, want all (and some)", halfCut.Load(), halfSent.Load())
	}
	testkit.Eventually(t, 5*time.Second, "keygate_requests_in_flight back to 0", func() bool {
		return metricValues(t, health)["keygate_requests_in_flight"] == 0
	})
	if got := metricValues(t, health)[`keygate_upstream_errors_total{kind="aborted",route="half"}`]; got != float64(halfSent.Load()) {
		t.Errorf("aborted exchanges counted: %v, want %d", got, halfSent.Load())
	}
}

// TestFaultSlowloris opens many connections that send a request's header
// one byte at a time, and as many that send nothing, with
// server.read_header_timeout 500ms: keygate must close every one of them
// (a generous bound: 20 s) while ordinary requests keep getting 200.
// Figures: how long the slow connections were held, and the ordinary
// requests' p50 with them open against before.
func TestFaultSlowloris(t *testing.T) {
	up := echoUpstream(t)
	g, _ := start(t, parse(t, fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
server: {read_header_timeout: 500ms, read_timeout: 2s}
routes:
  - {name: open, path_prefix: /, upstream: %s, auth: none}
`, up.URL)))
	addr := g.Addr().String()
	url := "http://" + addr + "/x"
	l := newLoad(2 * time.Millisecond)
	defer l.halt()
	var out [2]outcomes
	l.worker(func(p, _ int) (string, string, *outcomes) { return url, "", &out[p] })
	time.Sleep(testkit.Span(500*time.Millisecond, 5*time.Second))

	n := testkit.Count(200, 2000)
	var held sync.Mutex
	var heldFor []time.Duration
	var open atomic.Int64
	var wg sync.WaitGroup
	l.advance(t)
	for i := range n {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		open.Add(1)
		wg.Go(func() {
			defer conn.Close()
			defer open.Add(-1)
			t0 := time.Now()
			if i%2 == 0 { // a header, a byte every 100ms, never finished
				header := "GET /x HTTP/1.1\r\nHost: keygate\r\nX-Slow: " + strings.Repeat("a", 1000)
				for j := 0; j < len(header); j++ {
					if _, err := conn.Write([]byte{header[j]}); err != nil {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
			} else { // nothing at all: wait for keygate to close it
				_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
				_, _ = conn.Read(make([]byte, 1))
			}
			held.Lock()
			heldFor = append(heldFor, time.Since(t0))
			held.Unlock()
		})
	}
	testkit.Eventually(t, 20*time.Second, fmt.Sprintf("keygate closing %d slow and idle connections", n), func() bool { return open.Load() == 0 })
	wg.Wait()
	l.halt()

	testkit.Figure(t, "slow connections", "%d closed after p50 %s, max %s (read_header_timeout 500ms)",
		n, testkit.Quantile(heldFor, .5).Round(10*time.Millisecond), testkit.Quantile(heldFor, 1).Round(10*time.Millisecond))
	before, during := out[0].latencies(), out[1].latencies()
	testkit.Figure(t, "ordinary p50 during/before", "%s", testkit.Ratio(testkit.Quantile(during, .5), testkit.Quantile(before, .5)))
	for p := range out {
		if bad := out[p].others(200); len(bad) > 0 || out[p].count(200) == 0 {
			t.Errorf("ordinary requests, phase %d: %s, want only 200", p, &out[p])
		}
	}
	if n := l.errs.Load(); n > 0 {
		t.Errorf("%d ordinary requests got no HTTP answer", n)
	}
}

// TestFaultSoak runs a mixed load on a gateway on Redis — recently
// verified keys, keys made and deleted as it runs, unknown tokens — and
// checks that afterwards nothing is left behind: no request in flight,
// the goroutines back to what they were, and every deleted key refused.
// Figures: requests served, and goroutines and heap after against before.
func TestFaultSoak(t *testing.T) {
	_, g, url := aliceOnRedis(t, "  cache_ttl: 1s\n  failure_limit: {rate: -1}")
	health := "http://" + g.HealthAddr().String()
	var keys []string
	for i := range 8 {
		keys = append(keys, "Bearer "+namedKey(t, g, "alice", fmt.Sprintf("k%d", i)))
	}
	// A second of the same load first, so that the baseline has the
	// connection pools (to Redis, to the upstream) filled.
	var valid, unknown outcomes
	var l *load
	run := func() *load {
		l := newLoad(time.Millisecond)
		for w := range 4 {
			l.worker(func(_, i int) (string, string, *outcomes) { return url, keys[(w+i)%len(keys)], &valid })
		}
		l.worker(func(int, int) (string, string, *outcomes) {
			return url, "Bearer " + authz.NewToken(authz.KindKeyToken), &unknown
		})
		return l
	}
	// Churn: a key made, used and deleted, again and again; once deleted
	// it must be refused.
	churned := 0
	churn := func(d time.Duration) {
		for deadline := time.Now().Add(d); time.Now().Before(deadline); churned++ {
			handle := fmt.Sprintf("churn%d", churned)
			tok := "Bearer " + namedKey(t, g, "alice", handle)
			if code, _, err := l.get(url, tok); err != nil || code != 200 {
				t.Fatalf("new key %s: %d %v", handle, code, err)
			}
			if err := g.Auth().Accounts.DeleteKey(t.Context(), "alice", handle); err != nil {
				t.Fatalf("DeleteKey %s: %v", handle, err)
			}
			if code, _, err := l.get(url, tok); err != nil || code != 401 {
				t.Fatalf("deleted key %s: %d %v, want 401", handle, code, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	l = run()
	churn(time.Second)
	l.halt()
	runtime.GC()
	goroutines := runtime.NumGoroutine()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap := ms.HeapInuse
	warmed := valid.count(200) + unknown.count(401)

	l = run()
	defer l.halt()
	churn(testkit.Span(3*time.Second, 90*time.Second))
	l.halt()

	testkit.Eventually(t, 5*time.Second, "keygate_requests_in_flight back to 0", func() bool {
		return metricValues(t, health)["keygate_requests_in_flight"] == 0
	})
	// Pooled connections come and go with the concurrency, three
	// goroutines each (keygate's end of a client connection; the reading
	// and writing ends of an upstream one): a pool's worth is allowed, a
	// leak per request is thousands.
	const slack = 3 * 6
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(10 * time.Second); after > goroutines+slack && time.Now().Before(deadline); after = runtime.NumGoroutine() {
		time.Sleep(50 * time.Millisecond)
	}
	if after > goroutines+slack {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Errorf("goroutines: %d after the soak, %d before: a leak?\n%s", after, goroutines, b.String())
	}
	runtime.ReadMemStats(&ms)
	served := valid.count(200) + unknown.count(401) - warmed
	testkit.Figure(t, "requests", "%d (%d keys made and deleted), client errors %d", served, churned, l.errs.Load())
	testkit.Figure(t, "goroutines after/before", "%d / %d", after, goroutines)
	testkit.Figure(t, "heap in use after/before", "%.1f× (%d KiB / %d KiB)", float64(ms.HeapInuse)/float64(heap), ms.HeapInuse>>10, heap>>10)
	if bad := valid.others(200); len(bad) > 0 {
		t.Errorf("valid keys: answers other than 200: %v", bad)
	}
	if bad := unknown.others(401); len(bad) > 0 {
		t.Errorf("unknown tokens: answers other than 401: %v", bad)
	}
	if n := l.errs.Load(); n > 0 {
		t.Errorf("%d requests got no HTTP answer", n)
	}
}
