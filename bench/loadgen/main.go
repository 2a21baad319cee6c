// Command loadgen is the benchmark harness's open-loop load generator: it
// sends GET requests to one loopback URL at a fixed rate, whatever the
// server's latency, and prints latency percentiles as one parseable line.
//
// wrk is closed-loop: each connection sends its next request when the last
// answer arrives, so a slow server is sent less and its stalls hide in the
// figures (coordinated omission). loadgen instead fixes the start time of
// every request in advance, at -rate per second, and measures each latency
// from that scheduled start: a request that waits for a free connection, or
// is started late because the server was slow, counts the wait. So the
// latency at half a server's maximum rate is what a client sending at that
// rate would see.
//
// One dispatcher goroutine, on its own OS thread, sleeps with nanosleep
// until each request is due and hands it to -conns workers, each with a
// keep-alive connection from one http.Transport (MaxIdleConnsPerHost and
// MaxConnsPerHost = -conns). Due requests that find every worker busy wait
// in a queue, and that wait is part of their latency.
//
//	loadgen -url http://127.0.0.1:9006/bench/item -rate 8000 -duration 10s \
//	    -H "Authorization: Bearer kgl_..."
//
// It prints one line of key=value pairs on stdout, for example
//
//	loadgen url=http://127.0.0.1:9002/bench/item rate=8000 conns=64 duration=10s warmup=1s count=80000 errors=0 bad_status=0 missed=0 achieved_rps=8000.1 p50_us=210 p90_us=320 p99_us=700 p999_us=1900 max_us=4100 late_p99_us=90 answered=88000
//
// where count is the measured requests answered, whatever their status (the
// warm-up is not counted), errors those that failed (connection error or
// timeout), bad_status those answered with a status other than -expect,
// missed those never started (the backlog was full or the run hit its
// deadline), achieved_rps the measured requests started per second, pNN_us
// the latency percentiles from scheduled start to the end of the response
// body in microseconds, late_p99_us the 99th percentile of how late a
// request was started after its scheduled time (the generator's own delay,
// plus the wait for a free connection when the server is behind: when it
// nears p99_us, the latency is mostly waiting), and answered every request
// answered, warm-up included (for CPU per request on the server side).
//
// It only talks to loopback addresses and always stops: requests are due
// within -warmup plus -duration, the last ones get -timeout, and nothing
// runs longer than that plus a second.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Bounds on the flags, so a typo cannot start an hour-long or
// million-connection run.
const (
	maxDuration = 10 * time.Minute
	maxRate     = 1_000_000
	maxConns    = 4096
)

type config struct {
	url      *url.URL
	rate     float64
	duration time.Duration
	warmup   time.Duration
	conns    int
	timeout  time.Duration
	expect   int
	header   http.Header
}

func main() {
	var c config
	c.header = http.Header{}
	rawURL := flag.String("url", "", "URL to GET (loopback only), e.g. http://127.0.0.1:9002/bench/item; grpc://127.0.0.1:9191/bench/item asks keygate's ext_authz gRPC service to check GET /bench/item instead")
	flag.Float64Var(&c.rate, "rate", 1000, "requests per second, fixed")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of the measured run")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "run at the same rate before measuring, not counted")
	flag.IntVar(&c.conns, "conns", 64, "connections (and most requests in flight at once)")
	flag.DurationVar(&c.timeout, "timeout", 5*time.Second, "timeout of one request")
	flag.IntVar(&c.expect, "expect", http.StatusOK, "expected status; other statuses count as bad_status")
	flag.Func("H", `request header "Name: value" (repeatable), e.g. -H "Authorization: Bearer TOKEN"`, func(s string) error {
		name, value, ok := strings.Cut(s, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return errors.New(`want "Name: value"`)
		}
		c.header.Add(name, strings.TrimSpace(value))
		return nil
	})
	cpuProfile := flag.String("cpuprofile", "", "write the generator's own CPU profile to this file")
	flag.Parse()
	if flag.NArg() != 0 {
		log.Fatalf("loadgen: unexpected arguments %q", flag.Args())
	}

	var err error
	if c.url, err = checkURL(*rawURL); err != nil {
		log.Fatalf("loadgen: -url: %v", err)
	}
	if err := c.check(); err != nil {
		log.Fatalf("loadgen: %v", err)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatalf("loadgen: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatalf("loadgen: %v", err)
		}
		defer f.Close()
	}
	r := run(c)
	pprof.StopCPUProfile()
	fmt.Println(r.line(c))
	if r.firstErr != nil {
		log.Printf("loadgen: %d requests failed; the first: %v", r.errors, r.firstErr)
	}
	if r.count == 0 {
		os.Exit(1)
	}
}

// checkURL accepts only http URLs whose host is a loopback address.
func checkURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "grpc" {
		return nil, fmt.Errorf("%q: want an http or grpc URL", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		return nil, fmt.Errorf("%q: host must be a loopback address (127.0.0.0/8, ::1, localhost)", raw)
	}
	return u, nil
}

// loopbackOnly refuses, at dial time, any address that is not loopback, so
// that a name like localhost cannot lead the load anywhere else.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing to dial %s: not a loopback address", address)
	}
	return nil
}

func (c *config) check() error {
	switch {
	case !(c.rate >= 1 && c.rate <= maxRate):
		return fmt.Errorf("-rate must be between 1 and %d", maxRate)
	case c.duration < 100*time.Millisecond || c.duration > maxDuration:
		return fmt.Errorf("-duration must be between 100ms and %s", maxDuration)
	case c.warmup < 0 || c.warmup > maxDuration:
		return fmt.Errorf("-warmup must be between 0 and %s", maxDuration)
	case c.conns < 1 || c.conns > maxConns:
		return fmt.Errorf("-conns must be between 1 and %d", maxConns)
	case c.timeout <= 0 || c.timeout > time.Minute:
		return errors.New("-timeout must be between 0 and 1m")
	case c.expect < 100 || c.expect > 599:
		return errors.New("-expect must be an HTTP status")
	}
	return nil
}

// result is what a run measured; latencies and lateness are in
// nanoseconds, one per measured answered request.
type result struct {
	count, errors, badStatus, missed int64
	answered                         int64 // warm-up included
	latencies, lateness              []int64
	started                          int64         // measured requests started
	lastStart                        time.Duration // of a measured request, since the measured window began
	firstErr                         error
}

// worker is one connection's loop: it takes the next due slot from the
// dispatcher, sends its request and waits for the answer.
type worker struct {
	latencies, lateness     []int64
	errors, badStatus       int64
	answered                int64 // warm-up included
	started                 int64
	lastStart               time.Duration
	firstErr                error
	measuredFrom, measureTo int64 // slot indexes [from, to) that are measured
}

// maxBacklog bounds the due requests waiting for a free connection. A
// server that falls this far behind is overloaded; the slots that do not fit
// are counted as missed rather than blocking the schedule.
const maxBacklog = 1 << 20

func run(c config) result {
	send, closeConns := httpSender(c)
	if c.url.Scheme == "grpc" {
		send, closeConns = grpcSender(c)
	}
	defer closeConns()
	interval := float64(time.Second) / c.rate
	warmSlots := int64(math.Round(c.warmup.Seconds() * c.rate))
	totalSlots := warmSlots + int64(math.Round(c.duration.Seconds()*c.rate))
	// Every request is due before warmup+duration; the ones that are still
	// running get their timeout, and then everything stops.
	hardStop := c.warmup + c.duration + c.timeout + time.Second
	ctx, cancel := context.WithTimeout(context.Background(), hardStop)
	defer cancel()

	start := time.Now().Add(50 * time.Millisecond)
	dueAt := func(slot int64) time.Time { return start.Add(time.Duration(float64(slot) * interval)) }
	measureStart := dueAt(warmSlots)

	// The dispatcher hands out each slot when it is due. Go's timers wake
	// an idle process with millisecond granularity, which would add up to
	// a millisecond of the generator's own lateness to every latency, so
	// the dispatcher sleeps with nanosleep on its own OS thread instead
	// (sleep_linux.go). The channel is the backlog: a slot due while every
	// connection is busy waits there, and its wait counts in its latency.
	slots := make(chan int64, min(totalSlots, maxBacklog))
	var dropped atomic.Int64
	go func() {
		defer close(slots)
		runtime.LockOSThread() // the thread's timer slack is set for it alone
		defer runtime.UnlockOSThread()
		preciseSleeps()
		for slot := range totalSlots {
			sleepUntil(dueAt(slot))
			if ctx.Err() != nil {
				return
			}
			select {
			case slots <- slot:
			default:
				dropped.Add(1)
			}
		}
	}()

	workers := make([]*worker, c.conns)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{
			latencies:    make([]int64, 0, (totalSlots-warmSlots)/int64(c.conns)+16),
			measuredFrom: warmSlots,
			measureTo:    totalSlots,
		}
		w.lateness = make([]int64, 0, cap(w.latencies))
		workers[i] = w
		wg.Go(func() {
			for slot := range slots {
				if ctx.Err() != nil {
					continue // drain: the run is over
				}
				w.do(ctx, send, c, slot, dueAt(slot), measureStart)
			}
		})
	}
	wg.Wait()

	var r result
	for _, w := range workers {
		r.latencies = append(r.latencies, w.latencies...)
		r.lateness = append(r.lateness, w.lateness...)
		r.errors += w.errors
		r.answered += w.answered
		r.badStatus += w.badStatus
		r.started += w.started
		r.lastStart = max(r.lastStart, w.lastStart)
		if r.firstErr == nil {
			r.firstErr = w.firstErr
		}
	}
	r.count = int64(len(r.latencies))
	// Measured slots that were dropped from a full backlog, never
	// dispatched before the deadline, or dispatched but not started.
	r.missed = max(0, (totalSlots-warmSlots)-r.started)
	return r
}

// sender sends one request and returns the HTTP status of its answer.
type sender func(ctx context.Context) (int, error)

// httpSender GETs c.url over a pool of c.conns keep-alive connections;
// the function returned closes them.
func httpSender(c config) (sender, func()) {
	transport := &http.Transport{
		Proxy:               nil, // loopback only: never through HTTP_PROXY
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second, Control: loopbackOnly}).DialContext,
		MaxIdleConns:        c.conns,
		MaxIdleConnsPerHost: c.conns,
		MaxConnsPerHost:     c.conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	client := &http.Client{
		Transport: transport,
		Timeout:   c.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // never follow a redirect off loopback
		},
	}

	return func(ctx context.Context) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url.String(), nil)
		if err != nil {
			log.Fatalf("loadgen: %v", err) // the URL was checked: cannot happen
		}
		for name, values := range c.header {
			req.Header[name] = values
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, err
	}, transport.CloseIdleConnections
}

// do sends the request of slot, due at due, and records it if the slot is
// in the measured window.
func (w *worker) do(ctx context.Context, send sender, c config, slot int64, due, measureStart time.Time) {
	sent := time.Now()
	status, err := send(ctx)
	done := time.Now()
	if err == nil {
		w.answered++
	}
	if slot < w.measuredFrom || slot >= w.measureTo {
		return
	}
	w.started++
	w.lastStart = max(w.lastStart, sent.Sub(measureStart))
	if err != nil {
		if w.errors == 0 {
			w.firstErr = err
		}
		w.errors++
		return
	}
	if status != c.expect {
		w.badStatus++
	}
	w.latencies = append(w.latencies, done.Sub(due).Nanoseconds())
	w.lateness = append(w.lateness, max(0, sent.Sub(due).Nanoseconds()))
}

// percentile returns the nearest-rank p-quantile of sorted, in µs.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p*float64(len(sorted)))) - 1
	k = min(max(k, 0), len(sorted)-1)
	return sorted[k] / int64(time.Microsecond)
}

func (r result) line(c config) string {
	slices.Sort(r.latencies)
	slices.Sort(r.lateness)
	achieved := 0.0
	if r.started > 1 && r.lastStart > 0 {
		// started requests span started-1 intervals
		achieved = float64(r.started-1) / r.lastStart.Seconds()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "loadgen url=%s rate=%g conns=%d duration=%s warmup=%s", c.url, c.rate, c.conns, c.duration, c.warmup)
	fmt.Fprintf(&b, " count=%d errors=%d bad_status=%d missed=%d achieved_rps=%.1f", r.count, r.errors, r.badStatus, r.missed, achieved)
	for _, q := range []struct {
		name string
		p    float64
	}{{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}, {"p999", 0.999}, {"max", 1}} {
		fmt.Fprintf(&b, " %s_us=%d", q.name, percentile(r.latencies, q.p))
	}
	fmt.Fprintf(&b, " late_p99_us=%d answered=%d", percentile(r.lateness, 0.99), r.answered)
	return b.String()
}
