package proxy

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestLineLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLineLimiter(10*time.Second, func() time.Time { return now })
	type want struct {
		ok         bool
		suppressed int
	}
	step := func(what, route, kind string, w want) {
		t.Helper()
		if ok, n := l.allow(route, kind); ok != w.ok || n != w.suppressed {
			t.Errorf("%s: allow(%q, %q) = (%v, %d), want (%v, %d)", what, route, kind, ok, n, w.ok, w.suppressed)
		}
	}
	step("first", "a", "connect", want{true, 0})
	step("second at once", "a", "connect", want{false, 0})
	step("third at once", "a", "connect", want{false, 0})
	step("another kind", "a", "timeout", want{true, 0})
	step("another route", "b", "connect", want{true, 0})
	now = now.Add(9 * time.Second)
	step("within the interval", "a", "connect", want{false, 0})
	now = now.Add(time.Second)
	step("after the interval", "a", "connect", want{true, 3})
	step("after that, at once", "a", "connect", want{false, 0})
}

// TestUpstreamErrorLinesRateLimited sends 20 requests to a route whose
// upstream refuses connections: one warn line, every error counted.
func TestUpstreamErrorLinesRateLimited(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close() // nothing listens there now: connections are refused
	core, logs := observer.New(zapcore.InfoLevel)
	reg := prometheus.NewRegistry()
	gw := newGateway(t, fmt.Sprintf("routes:\n  - {name: dead, path_prefix: /, upstream: http://%s, auth: none}\n", dead), Options{Logger: zap.New(core), Registerer: reg})
	for range 20 {
		if code := get(t, gw.URL+"/x"); code != 502 {
			t.Fatalf("request to a dead upstream: %d, want 502", code)
		}
	}
	lines := logs.FilterMessage("upstream error").All()
	if len(lines) != 1 {
		t.Fatalf("%d 'upstream error' lines for 20 errors within the interval, want 1", len(lines))
	}
	if f := lines[0].ContextMap(); f["route"] != "dead" || f["kind"] != "connect" || f["suppressed"] != int64(0) {
		t.Errorf("upstream error line fields = %v, want route dead, kind connect, suppressed 0", f)
	}
	if n := logs.FilterMessage("request").Len(); n != 20 {
		t.Errorf("%d access lines, want 20 (only error lines are limited)", n)
	}
}
