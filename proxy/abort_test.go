package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// halfBodyUpstream is a real TCP upstream that answers every request with
// headers promising 100 bytes, sends 50 and closes the connection.
func halfBodyUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				if _, err := http.ReadRequest(bufio.NewReader(conn)); err != nil {
					return
				}
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"+strings.Repeat("x", 50))
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestAbortedResponse (issue 22.1): an upstream that closes in the middle
// of the body makes the ReverseProxy abort the handler; the request must
// still leave in-flight, be counted, count as an upstream error of kind
// aborted, and get its access line, and the client's connection is cut.
func TestAbortedResponse(t *testing.T) {
	reg := prometheus.NewRegistry()
	core, logs := observer.New(zapcore.InfoLevel)
	gw := newGateway(t, fmt.Sprintf("routes:\n  - {name: cut, path_prefix: /cut, upstream: %s, auth: none}\n", halfBodyUpstream(t)),
		Options{Registerer: reg, Logger: zap.New(core)})

	const n = 5
	for i := 0; i < n; i++ {
		// The 50 bytes may still sit in the server's buffer when the
		// connection is cut: the client sees an EOF either before the
		// headers or in the body, never a complete response.
		resp, err := http.Get(gw.URL + "/cut/x")
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil {
				t.Errorf("request %d: read a whole response (%d, %d bytes) from an aborted exchange", i, resp.StatusCode, len(body))
			}
		}
	}

	if got := testutil.ToFloat64(gw.h.metrics.inFlight); got != 0 {
		t.Errorf("keygate_requests_in_flight = %v after the aborted requests, want 0", got)
	}
	if got := testutil.ToFloat64(gw.h.metrics.upstreamErrors.WithLabelValues("cut", "aborted")); got != n {
		t.Errorf(`keygate_upstream_errors_total{kind="aborted"} = %v, want %d`, got, n)
	}
	var requests float64
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "keygate_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && l.GetValue() == "cut" {
					requests += m.GetCounter().GetValue()
				}
			}
		}
	}
	if requests != n {
		t.Errorf(`keygate_requests_total{route="cut"} sums to %v, want %d`, requests, n)
	}
	if got := testutil.CollectAndCount(reg, "keygate_request_duration_seconds"); got == 0 {
		t.Error("no request duration observed")
	}
	lines := logs.FilterMessage("request").All()
	if len(lines) != n {
		t.Fatalf("%d access lines, want %d", len(lines), n)
	}
	f := lines[0].ContextMap()
	if f["route"] != "cut" || f["upstream_error"] != "aborted" {
		t.Errorf("access line route=%v upstream_error=%v, want cut, aborted", f["route"], f["upstream_error"])
	}
}
