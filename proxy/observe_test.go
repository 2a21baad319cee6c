package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/version"
)

func get(t *testing.T, url string, header ...string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestMetrics(t *testing.T) {
	up := newUpstream(t, "up")
	reg := prometheus.NewRegistry()
	gw := newGateway(t, fmt.Sprintf("routes:\n  - {name: open, path_prefix: /open, upstream: %s, auth: none}\n", up.URL), Options{Registerer: reg, Version: version.Info{Version: "test", Revision: "0123456789ab", GoVersion: "go1.26.8"}})
	get(t, gw.URL+"/open/a")
	get(t, gw.URL+"/open/b?secret=1")
	get(t, gw.URL+"/missing")
	req, _ := http.NewRequest("PROPFIND", gw.URL+"/open", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// The code label is the exact status (issue 19.2); only the series
	// seen are exported.
	want := `
# HELP keygate_requests_total Requests answered, by route, method, status code (a fixed list, others folded to other) and mode (proxy, or forward_auth: a check asked by an ingress).
# TYPE keygate_requests_total counter
keygate_requests_total{code="200",method="GET",mode="proxy",route="open"} 2
keygate_requests_total{code="200",method="OTHER",mode="proxy",route="open"} 1
keygate_requests_total{code="404",method="GET",mode="proxy",route="unmatched"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "keygate_requests_total"); err != nil {
		t.Error(err)
	}
	if got := testutil.CollectAndCount(reg, "keygate_request_duration_seconds"); got != 4 {
		t.Errorf("duration histograms: %d series, want 4 (open, unmatched; proxy, forward_auth)", got)
	}
	// The upstream histogram has the three proxied requests, on route open.
	if got := testutil.ToFloat64(upstreamCount(t, reg, "open")); got != 3 {
		t.Errorf("keygate_upstream_duration_seconds_count{route=open} = %v, want 3", got)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP keygate_requests_in_flight Requests being served now.
# TYPE keygate_requests_in_flight gauge
keygate_requests_in_flight 0
`), "keygate_requests_in_flight"); err != nil {
		t.Error(err)
	}
	// No label may carry a path, query or credential.
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.ContainsAny(l.GetValue(), "/?=") {
					t.Errorf("%s has label %s=%q", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// upstreamCount is keygate_upstream_duration_seconds_count for route.
func upstreamCount(t *testing.T, reg *prometheus.Registry, route string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() != "keygate_upstream_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == route {
				n = m.GetHistogram().GetSampleCount()
			}
		}
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "count"}, func() float64 { return float64(n) })
}

func TestCodeIndex(t *testing.T) {
	for _, tt := range []struct {
		status int
		want   string
	}{{200, "200"}, {404, "404"}, {429, "429"}, {503, "503"}, {299, "other"}, {999, "other"}, {-1, "other"}, {0, "other"}} {
		if got := codeLabels[codeIndex(tt.status)]; got != tt.want {
			t.Errorf("code label of %d = %q, want %q", tt.status, got, tt.want)
		}
	}
}

func TestAccessLog(t *testing.T) {
	up := newUpstream(t, "up")
	core, logs := observer.New(zapcore.InfoLevel)
	gw := newGateway(t, fmt.Sprintf("routes:\n  - {name: open, path_prefix: /open, upstream: %s, auth: none}\n", up.URL), Options{Logger: zap.New(core)})
	get(t, gw.URL+"/open/item?token=querysecret", "Authorization", "Bearer headersecret", "Cookie", "session=cookiesecret", "X-Request-Id", "req-1")
	get(t, gw.URL+"/%2e%2e/etc/passwd")

	entries := logs.FilterMessage("request").All()
	if len(entries) != 2 {
		t.Fatalf("%d access log lines, want 2", len(entries))
	}
	f := entries[0].ContextMap()
	for k, want := range map[string]any{"request_id": "req-1", "route": "open", "method": "GET", "path": "/open/item", "status": int64(200), "client": "127.0.0.1"} {
		if f[k] != want {
			t.Errorf("access log %s = %v (%T), want %v", k, f[k], f[k], want)
		}
	}
	for _, k := range []string{"duration", "bytes", "upstream_duration"} {
		if _, ok := f[k]; !ok {
			t.Errorf("access log has no %s", k)
		}
	}
	if f := entries[1].ContextMap(); f["path"] != "(refused)" || f["status"] != int64(400) {
		t.Errorf("refused request logged as path %v status %v", f["path"], f["status"])
	}
	for _, e := range logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		for _, secret := range []string{"querysecret", "headersecret", "cookiesecret", "passwd"} {
			if strings.Contains(line, secret) {
				t.Errorf("log line contains %q: %s", secret, line)
			}
		}
	}
}

func TestAccessLogOff(t *testing.T) {
	up := newUpstream(t, "up")
	core, logs := observer.New(zapcore.InfoLevel)
	gw := newGateway(t, fmt.Sprintf("log: {access_log: false}\nroutes:\n  - {name: open, path_prefix: /, upstream: %s, auth: none}\n", up.URL), Options{Logger: zap.New(core)})
	get(t, gw.URL+"/x")
	if n := logs.FilterMessage("request").Len(); n != 0 {
		t.Errorf("%d access log lines with access_log: false", n)
	}
}

// TestReloadUnderLoad swaps the config while requests run: none may fail,
// and once Reload returns the new route answers.
func TestReloadUnderLoad(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	cfgA := fmt.Sprintf("routes:\n  - {name: r, path_prefix: /, upstream: %s, auth: none}\n", a.URL)
	cfgB := fmt.Sprintf("upstream: {max_idle_conns_per_host: 8}\nroutes:\n  - {name: r, path_prefix: /, upstream: %s, auth: none}\n  - {name: new, path_prefix: /new, upstream: %s, auth: none}\n", b.URL, b.URL)
	gw := newGateway(t, cfgA, Options{})

	var failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(gw.URL + "/x")
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
			}
		}()
	}
	parse := func(y string) *config.Config {
		c, err := config.Parse("t.yaml", []byte(y), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for i := 0; i < 20; i++ {
		time.Sleep(5 * time.Millisecond)
		y := cfgA
		if i%2 == 0 {
			y = cfgB
		}
		if err := gw.h.Reload(parse(y)); err != nil {
			t.Fatalf("Reload: %v", err)
		}
	}
	if err := gw.h.Reload(parse(cfgB)); err != nil {
		t.Fatal(err)
	}
	if code := get(t, gw.URL+"/new/x"); code != 200 {
		t.Errorf("new route after reload: %d, want 200", code)
	}
	close(stop)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Errorf("%d requests failed during reloads", n)
	}
	if a.hits.Load() == 0 || b.hits.Load() == 0 {
		t.Errorf("hits a=%d b=%d: both configs should have served", a.hits.Load(), b.hits.Load())
	}
}

// benchLogger is an info-level JSON logger writing to w, like production.
func benchLogger(w io.Writer) *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), zapcore.InfoLevel))
}
