package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// report writes the markdown report to stdout and results/summary.md,
// after saving each keygate's /metrics.
func (r *loadRun) report() error {
	metrics := map[string]string{}
	for _, t := range r.p.targets {
		if t.health == 0 {
			continue
		}
		_, body, err := get(fmt.Sprintf("http://%s/metrics", addr(t.health)), "", "")
		if err == nil {
			metrics[t.name] = body
			_ = os.WriteFile(filepath.Join(r.results, "metrics-"+t.name+".txt"), []byte(body), 0o644)
		}
	}
	f, err := os.Create(filepath.Join(r.results, "summary.md"))
	if err != nil {
		return err
	}
	defer f.Close()
	r.write(io.MultiWriter(os.Stdout, f), metrics)
	fmt.Fprintf(os.Stderr, "bench: raw output and summary in %s\n", r.results)
	return nil
}

// machine describes the machine for a report's header: cores, CPU model,
// Go version and kernel.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "unknown"
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		kernel = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%d cores (%s), %s, Linux %s", runtime.NumCPU(), model, goVersion(), kernel)
}

// goVersion is the version of the go on PATH, which builds the targets.
func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}

// commit names the keygate measured: the checkout's commit, or the binary.
func commit(root, bin string) string {
	if bin != "" {
		return bin
	}
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "--no-optional-locks", "status", "--porcelain").Output(); err == nil && len(st) > 0 {
		c += " (with uncommitted changes)"
	}
	return c
}

func wrkVersion() string {
	out, _ := exec.Command("wrk", "-v").CombinedOutput()
	f := strings.Fields(strings.SplitN(string(out), "\n", 2)[0])
	if len(f) < 2 {
		return "wrk"
	}
	return f[0] + " " + f[1]
}

// write writes the report: the run's header, the per-round and median
// tables, the ratios, the rate phases and the server-side counts.
func (r *loadRun) write(w io.Writer, metrics map[string]string) {
	o, p, base := r.o, r.p, r.p.baseline
	pf := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	pf("### Run of %s\n\n", r.started.UTC().Format("2006-01-02 15:04 UTC"))
	pf("- machine: %s\n", machine())
	if p.needKeygate() {
		pf("- keygate: %s\n", commit(r.lab.root, o.keygateBin))
		if o.keygateRuntime != "" {
			pf("- keygate runtime: `%s`\n", o.keygateRuntime)
		}
		if o.keygateUp != "" {
			pf("- keygate upstream: `%s`\n", o.keygateUp)
		}
	}
	pf("- load: `%s -t%d -c%d -d%s --latency http://127.0.0.1:PORT%s`, same machine, loopback\n", wrkVersion(), o.threads, o.conns, secs(o.duration), o.path)
	pf("- rounds: %d, order rotating per round, warm-up %s per target; baseline for ratios: %s\n", o.rounds, secs(o.warmup), base)
	if o.otherCPUMax > 0 {
		pf("- a run during which other processes used more than %d%% of the CPU was run again, up to %d times: %d runs were (rate phase included)\n", o.otherCPUMax, o.reruns, r.reruns)
	}

	pf("\n#### Per round\n\n")
	pf("| round | target | req/s | p50 ms | p99 ms | socket errors | non-2xx | unexpected | req/s vs %s | others %% |\n", base)
	pf("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	roundRPS := map[string]float64{} // "round/target"
	for _, row := range r.rows {
		roundRPS[fmt.Sprintf("%d/%s", row.round, row.target)] = row.wrk.RPS
	}
	for _, row := range r.rows {
		pf("| %d | %s | %.0f | %.3f | %.3f | %d | %d | %d | %s | %.0f |\n", row.round, row.target, row.wrk.RPS, row.wrk.P50, row.wrk.P99,
			row.wrk.SocketErrors, row.wrk.Non2xx, row.bad, ratio(row.wrk.RPS, roundRPS[fmt.Sprintf("%d/%s", row.round, base)]), row.others)
	}
	pf("\n`non-2xx` is wrk's count of 4xx/5xx answers; `unexpected` counts the answers of the wrong kind: non-2xx for every target but keygate-unknown, 2xx/3xx for keygate-unknown, whose every answer must be a refusal. `others %%`: CPU used during the run by processes the harness did not start, in %% of all cores.\n")

	type med struct {
		rps, p50, p99 float64
		cpu           float64
		cpuOK         bool
	}
	m := map[string]med{}
	for _, t := range p.targets {
		tot := r.totals[t.name]
		cpu, ok := perRequest(tot.cpu, r.clk, tot.reqs)
		// CPU per request is compared as printed, to a tenth of a µs.
		m[t.name] = med{rps: median(tot.rps), p50: median(tot.p50), p99: median(tot.p99), cpu: roundTo(cpu, 1), cpuOK: ok}
	}
	cpuRatio := func(a, b string) string {
		if !m[a].cpuOK || !m[b].cpuOK {
			return "n/a"
		}
		return ratio(m[a].cpu, m[b].cpu)
	}
	pf("\n#### Medians\n\n")
	pf("| target | req/s | p50 ms | p99 ms | req/s vs %[1]s | p99 vs %[1]s | CPU µs/req | CPU vs %[1]s | peak RSS MiB | upstream conns |\n", base)
	pf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range p.targets {
		tot, x := r.totals[t.name], m[t.name]
		conns := "n/a"
		if tot.upConns >= 0 {
			conns = fmt.Sprint(tot.upConns)
		}
		pf("| %s | %.0f | %.3f | %.3f | %s | %s | %s | %s | %.1f | %s |\n", t.name, x.rps, x.p50, x.p99,
			ratio(x.rps, m[base].rps), ratio(x.p99, m[base].p99), formatPerRequest(tot.cpu, r.clk, tot.reqs),
			cpuRatio(t.name, base), tot.peakRSS, conns)
	}
	pf("| upstream (shared) | | | | | | | | %.1f | |\n", r.upstreamRSS)
	pf("\n")
	for _, t := range p.targets {
		if t.name == base {
			continue
		}
		pf("- %s/%s: median req/s ratio **%s**, median p99 ratio **%s**, CPU per request ratio **%s**\n", t.name, base,
			ratio(m[t.name].rps, m[base].rps), ratio(m[t.name].p99, m[base].p99), cpuRatio(t.name, base))
	}
	pf("- CPU µs/req: server process user+system CPU over the measured rounds / requests it served; peak RSS: VmHWM at the end of these rounds; upstream conns: connections the upstream accepted from the target during the measured rounds (a pooling proxy opens none after its warm-up; one that churns opens thousands)\n")

	var between []string
	for _, pair := range pairs {
		a, b := pair[0], pair[1]
		if !p.listed(a) || !p.listed(b) || b == base {
			continue
		}
		var perRound []float64
		for round := 1; round <= o.rounds; round++ {
			ra, rb := roundRPS[fmt.Sprintf("%d/%s", round, a)], roundRPS[fmt.Sprintf("%d/%s", round, b)]
			if rb != 0 {
				perRound = append(perRound, roundTo(ra/rb, 2))
			}
		}
		between = append(between, fmt.Sprintf("- %s/%s: median req/s ratio **%s** (median of the per-round ratios %s), median p99 ratio **%s**, CPU per request ratio **%s**",
			a, b, ratio(m[a].rps, m[b].rps), num(median(perRound)), ratio(m[a].p99, m[b].p99), cpuRatio(a, b)))
	}
	if len(between) > 0 {
		pf("\nBetween other targets (each round loads both; per-round ratios are of the same round):\n\n%s\n", strings.Join(between, "\n"))
	}
	if p.listed("keygate-unknown") {
		rps := m["keygate-unknown"].rps
		every := 0.0
		if rps > 0 {
			every = float64(o.unknownTokens) / rps
		}
		pf("- keygate-unknown cycles through %d distinct tokens (%d per wrk thread): at its median %.0f req/s each token recurs every %.1f s (negative cache: 5 s by default)\n",
			o.unknownTokens, o.unknownTokens/o.threads, rps, every)
	}

	for _, rep := range r.rateRuns {
		r.writeRate(w, rep)
	}
	r.writeMemory(w)
	r.writeMetrics(w, metrics)
	if r.suspect {
		pf("\n- **some runs had socket errors, unexpected statuses or failed requests: see the tables; those figures are suspect**\n")
	}
}

// writeRate writes one rate phase's tables.
func (r *loadRun) writeRate(w io.Writer, rep rateReport) {
	o := r.o
	pf := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	pf("\n#### Rate phase: %d req/s, open loop\n\n", rep.rate)
	pf("- load: `bench/loadgen -rate %d -duration %s -warmup %s -conns %d`: a fixed schedule of request starts, latency from each scheduled start to the end of the answer (no coordinated omission); %d rounds, order rotating; %d req/s is %s\n\n",
		rep.rate, secs(o.rateDuration), secs(o.rateWarmup), o.rateConns, o.rateRounds, rep.rate, rep.how)
	pf("| round | target | achieved req/s | p50 µs | p99 µs | p99.9 µs | generator late p99 µs | failed | measured requests | others %% |\n")
	pf("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range rep.rows {
		lg := row.lg
		pf("| %d | %s | %s | %d | %d | %d | %d | %d | %d | %.0f |\n", row.round, row.target, lg.Achieved, lg.P50, lg.P99, lg.P999, lg.LateP99, lg.Failed(), lg.Count, row.others)
	}
	pf("\n| target | p50 µs | p99 µs | p99.9 µs | added p50 µs | added p99 µs | CPU µs/req |\n")
	pf("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range r.p.rateTargets {
		add50, add99 := "—", "—"
		if t.name != "bare" {
			add50, add99 = medianNum(rep.add50[t.name]), medianNum(rep.add99[t.name])
		}
		pf("| %s | %s | %s | %s | %s | %s | %s |\n", t.name, medianNum(rep.p50[t.name]), medianNum(rep.p99[t.name]), medianNum(rep.p999[t.name]),
			add50, add99, formatPerRequest(rep.cpu[t.name], r.clk, rep.reqs[t.name]))
	}
	pf("\n- medians over rounds; added pNN: the median over rounds of (target − bare) in the same round; CPU µs/req: the server process's CPU over these runs (lead-ins included) / requests it answered\n")
	pf("- failed: connection errors, timeouts, statuses other than 200 and requests never started; generator late: how late loadgen started a request after its scheduled time (it is part of every latency above, bare's included)\n")
}

// writeMetrics writes the server-side counts of the authenticated targets
// from their /metrics, and marks the run suspect when the load did not take
// the path meant.
func (r *loadRun) writeMetrics(w io.Writer, metrics map[string]string) {
	var auth []target
	for _, t := range r.p.targets {
		if t.auth == "required" {
			auth = append(auth, t)
		}
	}
	if len(auth) == 0 {
		return
	}
	pf := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	phase := ""
	if len(r.rateRuns) > 0 {
		phase = ", rate phase"
	}
	pf("\n#### Server-side counts (keygate /metrics, whole run: probe, warm-up, rounds%s)\n\n", phase)
	pf("| target | 2xx | 4xx | 5xx | of which client gone | auth ok | auth unknown | other auth results | cache hits | cache misses |\n")
	pf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range auth {
		e := metrics[t.name]
		ok := metricSum(e, "keygate_auth_decisions_total", `result="ok"`)
		unknown := metricSum(e, "keygate_auth_decisions_total", `result="unknown"`)
		all := metricSum(e, "keygate_auth_decisions_total", "")
		fivexx := metricSum(e, "keygate_requests_total", `code="5`)
		gone := metricSum(e, "keygate_upstream_errors_total", `kind="canceled"`)
		pf("| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d |\n", t.name,
			metricSum(e, "keygate_requests_total", `code="2`), metricSum(e, "keygate_requests_total", `code="4`), fivexx, gone,
			ok, unknown, all-ok-unknown, metricSum(e, "keygate_auth_cache_total", `result="hit"`), metricSum(e, "keygate_auth_cache_total", `result="miss"`))
		// Anything but the expected decision, or a 5xx that is not a client
		// gone away, makes the run suspect.
		if fivexx > gone || all-ok-unknown > 0 || (t.unknown && ok > 0) || (!t.unknown && unknown > 0) {
			r.suspect = true
		}
	}
	for _, t := range auth {
		if t.limitMode == "" {
			continue
		}
		allowed := metricSum(metrics[t.name], "keygate_ratelimit_decisions_total", `result="allowed"`)
		decided := metricSum(metrics[t.name], "keygate_ratelimit_decisions_total", "")
		pf("\n- %s: rate-limit decisions %d, of which allowed %d (anything else — limited, degraded, fail_open/closed — makes the run suspect)\n", t.name, decided, allowed)
		if allowed == 0 || allowed != decided {
			r.suspect = true
		}
	}
	pf("\nkeygate-bearer and keygate-apikey must show only `auth ok`, nearly all cache hits; keygate-unknown only `auth unknown` (401 invalid_token) and 4xx, and mostly cache misses (each a store look-up). `client gone`: requests in flight when wrk stopped at the end of a run and closed its connections, which keygate counts as 5xx (`keygate_upstream_errors_total{kind=\"canceled\"}`); any other 5xx is a real failure.\n")
}

// writeMemory writes each target's resident memory: idle once it
// answered, and the medians over rounds of VmRSS at the end of a run and of
// the run's peak (VmHWM, reset before each run) in every rate phase and at
// maximum load, with its median req/s; then the same as ratios to
// keygate-sidecar when it is listed, else to the baseline.
func (r *loadRun) writeMemory(w io.Writer) {
	base := r.p.baseline
	if r.p.listed("keygate-sidecar") {
		base = "keygate-sidecar"
	}
	head := "| target | idle RSS |"
	align := "|---|---:|"
	for _, rep := range r.rateRuns {
		head += fmt.Sprintf(" RSS at %[1]d/s | peak at %[1]d/s |", rep.rate)
		align += "---:|---:|"
	}
	head += " RSS at max | peak at max | max req/s |\n"
	align += "---:|---:|---:|\n"
	cols := map[string][]float64{}
	for _, t := range r.p.targets {
		c := []float64{r.idleRSS[t.name]}
		for _, rep := range r.rateRuns {
			var now, peak []float64
			for _, row := range rep.rows {
				if row.target == t.name {
					now, peak = append(now, row.mem.Now), append(peak, row.mem.Peak)
				}
			}
			c = append(c, median(now), median(peak))
		}
		var now, peak []float64
		for _, row := range r.rows {
			if row.target == t.name {
				now, peak = append(now, row.mem.Now), append(peak, row.mem.Peak)
			}
		}
		cols[t.name] = append(c, median(now), median(peak), median(r.totals[t.name].rps))
	}
	pf := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	pf("\n#### Resident memory, MiB\n\n%s%s", head, align)
	for _, t := range r.p.targets {
		pf("| %s |", t.name)
		for i, v := range cols[t.name] {
			if i == len(cols[t.name])-1 {
				pf(" %.0f |", v)
			} else {
				pf(" %.1f |", v)
			}
		}
		pf("\n")
	}
	pf("\nAs ratios to %s:\n\n%s%s", base, head, align)
	for _, t := range r.p.targets {
		pf("| %s |", t.name)
		for i, v := range cols[t.name] {
			pf(" %s |", ratio(v, cols[base][i]))
		}
		pf("\n")
	}
	pf("\n- idle RSS: VmRSS once the server answered its probe, a second later, before any load; RSS at …: median over rounds of VmRSS at the end of a run; peak at …: median over rounds of VmHWM during a run (reset before each run); rate phases with loadgen (open loop), max with wrk\n")
}
