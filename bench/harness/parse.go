package main

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// wrkResult is what one wrk run reports.
type wrkResult struct {
	RPS      float64 // Requests/sec
	P50, P99 float64 // latency percentiles, in milliseconds
	Requests int64   // requests completed ("N requests in ...")
	// SocketErrors sums wrk's connect, read, write and timeout errors.
	SocketErrors int64
	// Non2xx is wrk's "Non-2xx or 3xx responses": answers with a 4xx or 5xx.
	Non2xx int64
}

// parseWrk reads the output of wrk --latency. It fails when the output has
// no Requests/sec or no 99th percentile: wrk did not finish a run.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveRPS, haveP99 bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var err error
		switch {
		case f[0] == "Requests/sec:" && len(f) >= 2:
			r.RPS, err = strconv.ParseFloat(f[1], 64)
			haveRPS = err == nil
		case f[0] == "50%" && len(f) >= 2:
			r.P50, err = wrkMillis(f[1])
		case f[0] == "99%" && len(f) >= 2:
			r.P99, err = wrkMillis(f[1])
			haveP99 = err == nil
		case strings.Contains(line, " requests in "):
			r.Requests, err = strconv.ParseInt(f[0], 10, 64)
		case f[0] == "Socket" && len(f) >= 2 && f[1] == "errors:":
			// Socket errors: connect 0, read 12, write 0, timeout 3
			for i := 3; i < len(f); i += 2 {
				n, perr := strconv.ParseInt(strings.TrimSuffix(f[i], ","), 10, 64)
				if perr != nil {
					err = perr
					break
				}
				r.SocketErrors += n
			}
		case strings.HasPrefix(strings.TrimSpace(line), "Non-2xx or 3xx responses:"):
			var n int64
			n, err = strconv.ParseInt(f[len(f)-1], 10, 64)
			r.Non2xx += n
		}
		if err != nil {
			return wrkResult{}, fmt.Errorf("wrk output line %q: %w", strings.TrimSpace(line), err)
		}
	}
	if !haveRPS || !haveP99 {
		return wrkResult{}, errors.New("wrk output has no Requests/sec or no 99% latency (did the run finish?)")
	}
	return r, nil
}

// wrkMillis converts one of wrk's latencies (812.00us, 1.23ms, 2.01s,
// 1.50m, 1.00h) to milliseconds.
func wrkMillis(v string) (float64, error) {
	// Microseconds are divided, not multiplied by 0.001, so that 226.00us
	// is exactly the float64 0.226.
	units := []struct {
		suffix   string
		mul, div float64
	}{{"us", 1, 1000}, {"ms", 1, 1}, {"m", 60000, 1}, {"h", 3600000, 1}, {"s", 1000, 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("latency %q: %w", v, err)
			}
			return f * u.mul / u.div, nil
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("latency %q: %w", v, err)
	}
	return f, nil
}

// loadgenResult is what one bench/loadgen run reports.
type loadgenResult struct {
	Count     int64  // measured requests answered
	Errors    int64  // connection errors and timeouts
	BadStatus int64  // answers with another status than expected
	Missed    int64  // requests never started
	Achieved  string // achieved requests/s, as loadgen printed it
	P50, P99  int64  // latency from the scheduled start, µs
	P999      int64  // µs
	LateP99   int64  // how late loadgen started requests, p99, µs
	Answered  int64  // every request answered, lead-in included
}

// Failed counts the requests that did not get the expected answer.
func (r loadgenResult) Failed() int64 { return r.Errors + r.BadStatus + r.Missed }

// parseLoadgen reads loadgen's key=value line ("loadgen url=... count=...").
func parseLoadgen(out string) (loadgenResult, error) {
	kv := map[string]string{}
	found := false
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "loadgen ") {
			continue
		}
		found = true
		for _, f := range strings.Fields(line)[1:] {
			if k, v, ok := strings.Cut(f, "="); ok {
				kv[k] = v
			}
		}
	}
	if !found {
		return loadgenResult{}, errors.New("loadgen output has no 'loadgen key=value' line")
	}
	var r loadgenResult
	for _, field := range []struct {
		key string
		dst *int64
	}{
		{"count", &r.Count}, {"errors", &r.Errors}, {"bad_status", &r.BadStatus}, {"missed", &r.Missed},
		{"p50_us", &r.P50}, {"p99_us", &r.P99}, {"p999_us", &r.P999}, {"late_p99_us", &r.LateP99},
		{"answered", &r.Answered},
	} {
		v, ok := kv[field.key]
		if !ok {
			return loadgenResult{}, fmt.Errorf("loadgen output has no %s", field.key)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return loadgenResult{}, fmt.Errorf("loadgen output %s=%q: %w", field.key, v, err)
		}
		*field.dst = n
	}
	r.Achieved = kv["achieved_rps"]
	return r, nil
}

// metricSum returns the sum of the samples of metric name in a Prometheus
// text exposition whose labels contain labels (e.g. `result="ok"`; "" for
// all), 0 when there are none. Like the counts it feeds, the sum is whole.
func metricSum(exposition, name, labels string) int64 {
	var s float64
	for _, line := range strings.Split(exposition, "\n") {
		if !strings.HasPrefix(line, name) || !strings.Contains(line, labels) {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			s += v
		}
	}
	return int64(s)
}
