package main

import (
	"math"
	"testing"
)

// The wrk-*.txt files are real wrk 4.1.0 output: wrk-bare.txt and
// wrk-unknown.txt from a run of the load harness (bare; keygate-unknown,
// every answer a 401), wrk-errors.txt against a server that answered every
// other connection with a 503 and closed the rest unanswered,
// wrk-timeout.txt against one that never answered, wrk-refused.txt against
// a closed port.
func TestParseWrk(t *testing.T) {
	testParse(t, parseWrk, []parseCase[wrkResult]{
		{name: "wrk-bare.txt", in: readTestdata(t, "wrk-bare.txt"),
			want: wrkResult{RPS: 4501.44, P50: 10.65, P99: 199.59, Requests: 14440}},
		{name: "wrk-unknown.txt", in: readTestdata(t, "wrk-unknown.txt"),
			want: wrkResult{RPS: 37417.76, P50: 3.06, P99: 52.70, Requests: 115761, Non2xx: 115761}},
		{name: "wrk-errors.txt", in: readTestdata(t, "wrk-errors.txt"),
			want: wrkResult{RPS: 2809.18, P50: 0.226, P99: 3.72, Requests: 5632, SocketErrors: 11264, Non2xx: 5632}},
		{name: "wrk-timeout.txt", in: readTestdata(t, "wrk-timeout.txt"), want: wrkResult{}},
		{name: "wrk-refused.txt", in: readTestdata(t, "wrk-refused.txt"), wantErr: true},
	})
}

func TestParseWrkSocketErrorKinds(t *testing.T) {
	out := "  Latency Distribution\n     50%    1.00ms\n     99%    2.00s\n  10 requests in 1.00s, 1.00KB read\n" +
		"  Socket errors: connect 1, read 20, write 300, timeout 4000\nRequests/sec:     10.00\n"
	got, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if got.SocketErrors != 4321 {
		t.Errorf("SocketErrors = %d, want 4321 (connect + read + write + timeout)", got.SocketErrors)
	}
	if got.P99 != 2000 {
		t.Errorf("P99 = %v ms, want 2000 (2.00s)", got.P99)
	}
}

func TestWrkMillis(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{"812.00us", 0.812, false},
		{"10.65ms", 10.65, false},
		{"2.01s", 2010, false},
		{"1.50m", 90000, false},
		{"1.00h", 3600000, false},
		{"7", 7, false},
		{"-nan%", 0, true},
		{"ms", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := wrkMillis(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("wrkMillis(%q): error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("wrkMillis(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// loadgen-bearer.txt is real bench/loadgen output from the rate phase.
func TestParseLoadgen(t *testing.T) {
	testParse(t, parseLoadgen, []parseCase[loadgenResult]{
		{name: "captured", in: readTestdata(t, "loadgen-bearer.txt"), want: loadgenResult{Count: 4122, Achieved: "2060.9",
			P50: 1924, P99: 54573, P999: 64619, LateP99: 22616, Answered: 6183}},
		{name: "log lines around it, failures", in: "loadgen: 3 requests failed; the first: EOF\n" +
			"loadgen url=u rate=10 conns=1 duration=1s warmup=0s count=7 errors=3 bad_status=2 missed=1 achieved_rps=9.9 p50_us=1 p90_us=2 p99_us=3 p999_us=4 max_us=5 late_p99_us=6 answered=7\n",
			want: loadgenResult{Count: 7, Errors: 3, BadStatus: 2, Missed: 1, Achieved: "9.9", P50: 1, P99: 3, P999: 4, LateP99: 6, Answered: 7}},
		{name: "no result line", in: "loadgen: dial tcp: connection refused\n", wantErr: true},
		{name: "no p99", in: "loadgen count=1 errors=0 bad_status=0 missed=0 p50_us=1 p999_us=1 late_p99_us=1 answered=1\n", wantErr: true},
		{name: "not a number", in: "loadgen count=x errors=0 bad_status=0 missed=0 p50_us=1 p99_us=1 p999_us=1 late_p99_us=1 answered=1\n", wantErr: true},
	})
}

func TestLoadgenFailed(t *testing.T) {
	r := loadgenResult{Errors: 3, BadStatus: 2, Missed: 1}
	if got := r.Failed(); got != 6 {
		t.Errorf("Failed() = %d, want 6 (errors + bad status + missed)", got)
	}
}

// metrics-keygate-bearer.txt is keygate-bearer's /metrics after the run
// whose report counted 57166 2xx, all auth ok, 57159 cache hits, 7 misses.
func TestMetricSum(t *testing.T) {
	e := readTestdata(t, "metrics-keygate-bearer.txt")
	tests := []struct {
		name, metric, labels string
		want                 int64
	}{
		{"2xx", "keygate_requests_total", `code="2`, 57166},
		{"5xx: none", "keygate_requests_total", `code="5`, 0},
		{"auth ok", "keygate_auth_decisions_total", `result="ok"`, 57166},
		{"every auth decision", "keygate_auth_decisions_total", "", 57166},
		{"cache hits", "keygate_auth_cache_total", `result="hit"`, 57159},
		{"cache misses", "keygate_auth_cache_total", `result="miss"`, 7},
		{"absent metric", "keygate_ratelimit_decisions_total", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := metricSum(e, tt.metric, tt.labels); got != tt.want {
				t.Errorf("metricSum(%s, %s) = %d, want %d", tt.metric, tt.labels, got, tt.want)
			}
		})
	}
}
