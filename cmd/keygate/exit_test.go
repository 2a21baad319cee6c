package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestServeExitsZeroPastDrainDeadline holds a request open past
// server.shutdown_timeout after SIGTERM: the process must exit 0 (the stop
// the orchestrator asked for happened) with a warn line naming the one
// request it cut off.
func TestServeExitsZeroPastDrainDeadline(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	defer close(release)
	_, path := servedConfig(t, up.URL, "  - {name: hang, path_prefix: /, upstream: UP, auth: none}\n", "")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, strings.Replace(string(b), "shutdown_timeout: 10s", "shutdown_timeout: 200ms", 1))
	p := startServe(t, path)

	go func() {
		if resp, err := http.Get("http://" + p.addr + "/hang"); err == nil {
			resp.Body.Close()
		}
	}()
	p.termOnArrival(t, arrived, "the request")
	p.wantExitZero(t, " past the drain deadline")
	line := p.waitLog(t, "drain deadline passed: in-flight requests cut off")
	if line["level"] != "warn" || line["in_flight"] != float64(1) {
		t.Errorf("drain deadline line = %v, want level warn and in_flight 1", line)
	}
}
