package gateway

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMetricsExposition (issue 19.2) scrapes a live gateway's /metrics
// after real requests and a reload: the code label is the exact status,
// the upstream histogram and the reload timestamp are there, and promtool
// check metrics finds nothing to say about the names, types and help.
func TestMetricsExposition(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "up") }))
	defer up.Close()
	dir := t.TempDir()
	y := fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\nstore: {embedded: {path: %q}}\nroutes:\n  - {name: open, path_prefix: /open, upstream: %s, auth: none}\n  - {name: private, path_prefix: /private, upstream: %s, api_set: orders}\n",
		filepath.Join(dir, "k.db"), up.URL, up.URL)
	g, _ := start(t, parse(t, y))
	pub := "http://" + g.Addr().String()
	for path, want := range map[string]int{"/open/x": 200, "/nowhere": 404, "/private/x": 401} {
		if code, _ := getStatus(t, pub+path); code != want {
			t.Fatalf("GET %s: %d, want %d", path, code, want)
		}
	}
	_, started := getStatus(t, "http://"+g.HealthAddr().String()+"/metrics")
	before := time.Now()
	if err := g.Reload(parse(t, y)); err != nil {
		t.Fatal(err)
	}
	_, metrics := getStatus(t, "http://"+g.HealthAddr().String()+"/metrics")

	for _, want := range []string{
		`keygate_requests_total{code="200",method="GET",mode="proxy",route="open"} 1`,
		`keygate_requests_total{code="404",method="GET",mode="proxy",route="unmatched"} 1`,
		`keygate_requests_total{code="401",method="GET",mode="proxy",route="private"} 1`,
		`keygate_upstream_duration_seconds_count{route="open"} 1`,
		`keygate_upstream_duration_seconds_count{route="private"} 0`,
		`keygate_store_operation_duration_seconds_count{op="get"}`,
		`keygate_store_operation_errors_total{error="unavailable",op="get"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if strings.Contains(metrics, `code="2xx"`) || strings.Contains(metrics, `code="4xx"`) {
		t.Error("/metrics still has status classes in code")
	}
	last := exposedValue(t, metrics, "keygate_config_last_reload_success_timestamp_seconds")
	if first := exposedValue(t, started, "keygate_config_last_reload_success_timestamp_seconds"); first <= 0 || last <= first {
		t.Errorf("last reload timestamp %v at start, %v after a reload; want set at start and later after the reload", first, last)
	}
	if last < float64(before.Unix()) {
		t.Errorf("last reload timestamp %v is before the reload (%d)", last, before.Unix())
	}

	if _, err := exec.LookPath("promtool"); err != nil {
		msg := "promtool is not installed (apt-get install prometheus): the exposition's naming is not checked"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(metrics)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}

// exposedValue is the value of the unlabelled series name in an exposition.
func exposedValue(t *testing.T, exposition, name string) float64 {
	t.Helper()
	return seriesValue(t, exposition, name)
}

// seriesValue is the value of the series written exactly as series (name
// and labels in the exposition's order) in an exposition.
func seriesValue(t *testing.T, exposition, series string) float64 {
	t.Helper()
	name := series
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in the exposition", name)
	return 0
}
