package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// run runs a load generator (wrk, loadgen) for at most limit, its output
// to out, and checks afterwards that the target's server s is still alive.
func (r *loadRun) run(ctx context.Context, s *server, limit time.Duration, out string, argv ...string) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := runTo(ctx, out, argv...); err != nil {
		fmt.Fprint(os.Stderr, tail(out, 30))
		return fmt.Errorf("%s against %s failed: %w", filepath.Base(argv[0]), s.name, err)
	}
	if !s.alive() {
		return fmt.Errorf("%s died during the run (see %s)", s.name, s.log)
	}
	return nil
}

// runWrk loads t with wrk for d, its output to out.
func (r *loadRun) runWrk(ctx context.Context, t target, d time.Duration, out string) error {
	argv := []string{"wrk", "-t" + strconv.Itoa(r.o.threads), "-c" + strconv.Itoa(r.o.conns), "-d" + secs(d), "--timeout", "5s", "--latency"}
	if a := r.auth[t.name]; a != "" {
		argv = append(argv, "-H", "Authorization: "+a)
	}
	path, header := r.request(t)
	for _, h := range header {
		argv = append(argv, "-H", h)
	}
	if t.unknown {
		argv = append(argv, "-s", filepath.Join(r.lab.root, "bench", "tokens", "flood.lua"))
	}
	argv = append(argv, fmt.Sprintf("http://%s%s", addr(t.port), path))
	if t.unknown {
		argv = append(argv, "--", r.tokens, strconv.Itoa(r.o.threads))
	}
	return r.run(ctx, r.servers[t.name], d+30*time.Second, out, argv...)
}

// measured is what measure saw of one run.
type measured struct {
	cpu    int64   // clock ticks the target's server used
	others float64 // per cent of all cores used by processes the harness did not start, rounded
	mem    rss     // the server's resident memory at the end and its peak during the run
}

// measure runs fn (one wrk or loadgen run) and reads, from /proc, the CPU
// the target's server used meanwhile and the share of the machine that
// processes the harness did not start used meanwhile: other people's builds
// and tests, the hypervisor's steal. A noisy run shows there.
func (r *loadRun) measure(s *server, fn func() error) (measured, error) {
	m0, err := readMachineTimes()
	if err != nil {
		return measured{}, err
	}
	o0 := r.lab.ours()
	s0, err := readProcTimes(s.Pid())
	if err != nil {
		return measured{}, err
	}
	if _, err := r.peakSoFar(s); err != nil {
		return measured{}, err
	}
	if err := resetPeakRSS(s.Pid()); err != nil {
		return measured{}, err
	}
	if err := fn(); err != nil {
		return measured{}, err
	}
	s1, err := readProcTimes(s.Pid())
	if err != nil {
		return measured{}, err
	}
	mem, err := readRSS(s.Pid())
	if err != nil {
		return measured{}, err
	}
	o1 := r.lab.ours()
	m1, err := readMachineTimes()
	if err != nil {
		return measured{}, err
	}
	return measured{cpu: s1.Own() - s0.Own(), others: math.Round(othersPercent(m0, m1, o0, o1)), mem: mem}, nil
}

// peakSoFar returns s's peak RSS since it started, MiB: its VmHWM now or,
// when higher, before measure last reset it.
func (r *loadRun) peakSoFar(s *server) (float64, error) {
	p, err := readPeakRSS(s.Pid())
	if err != nil {
		return 0, fmt.Errorf("%s: %w", s.name, err)
	}
	r.peaks[s.name] = max(r.peaks[s.name], p)
	return r.peaks[s.name], nil
}

// measureRepeated measures fn and runs it again, up to -reruns times, while
// -other-cpu-max is set and other processes used more than that share.
func (r *loadRun) measureRepeated(ctx context.Context, s *server, what string, fn func() error) (measured, error) {
	for try := 0; ; try++ {
		progress.Print(what)
		m, err := r.measure(s, fn)
		if err != nil {
			return m, err
		}
		if r.o.otherCPUMax == 0 || m.others <= float64(r.o.otherCPUMax) || try >= r.o.reruns {
			return m, nil
		}
		progress.Printf("  disturbed: other processes used %.0f%% of the CPU (-other-cpu-max %d); running it again", m.others, r.o.otherCPUMax)
		r.reruns++
		if err := sleep(ctx, r.o.cooldown); err != nil {
			return m, err
		}
	}
}

// measureRounds warms every target up, then runs the rounds: each loads
// every target once with wrk, the order rotating from round to round so
// that no target always goes first.
func (r *loadRun) measureRounds(ctx context.Context) error {
	o, ts := r.o, r.p.targets
	n := len(ts)
	total := time.Duration(n)*(o.warmup+time.Duration(o.rounds)*(o.duration+o.cooldown)) + 5*time.Second
	if len(r.p.rateTargets) > 0 {
		nr := max(len(r.p.rates), len(r.p.fractions))
		total += time.Duration(nr*len(r.p.rateTargets)*o.rateRounds) * (o.rateWarmup + o.rateDuration + o.cooldown + time.Second)
	}
	progress.Printf("targets: %s (baseline %s); %d rounds of %s, warm-up %s; rate phase: %s; about %s",
		targetNames(ts, nil), r.p.baseline, o.rounds, secs(o.duration), secs(o.warmup), orOff(targetNames(r.p.rateTargets, nil)), total)

	for _, t := range ts {
		r.totals[t.name] = &totals{}
		if o.warmup == 0 {
			continue
		}
		progress.Printf("warm-up %s (%s)", t.name, secs(o.warmup))
		if err := r.runWrk(ctx, t, o.warmup, filepath.Join(r.results, "warmup-"+t.name+".txt")); err != nil {
			return err
		}
		if err := sleep(ctx, o.cooldown); err != nil {
			return err
		}
	}
	for round := 1; round <= o.rounds; round++ {
		for _, t := range rotate(ts, round) {
			out := filepath.Join(r.results, fmt.Sprintf("round%d-%s.txt", round, t.name))
			var c0, c1 int64
			m, err := r.measureRepeated(ctx, r.servers[t.name], fmt.Sprintf("round %d/%d: %s", round, o.rounds, t.name), func() error {
				c0 = r.upstreamConns(t)
				err := r.runWrk(ctx, t, o.duration, out)
				c1 = r.upstreamConns(t)
				return err
			})
			if err != nil {
				return err
			}
			tot := r.totals[t.name]
			if c0 < 0 || c1 < 0 || tot.upConns < 0 {
				tot.upConns = -1
			} else {
				tot.upConns += c1 - c0 - 1
			}
			w, err := parseFile(out, parseWrk)
			if err != nil {
				return err
			}
			// The report works from the figures as printed: req/s whole,
			// latencies to the microsecond.
			w.RPS, w.P50, w.P99 = math.Round(w.RPS), roundTo(w.P50, 3), roundTo(w.P99, 3)
			// bad: answers of the wrong kind. keygate-unknown must answer
			// every request with a refusal (its status is checked in the
			// metrics); the others must answer 2xx.
			bad := w.Non2xx
			if t.unknown {
				bad = w.Requests - w.Non2xx
			}
			tot.rps, tot.p50, tot.p99 = append(tot.rps, w.RPS), append(tot.p50, w.P50), append(tot.p99, w.P99)
			tot.cpu += m.cpu
			tot.reqs += w.Requests
			r.suspect = r.suspect || w.SocketErrors+bad > 0
			r.rows = append(r.rows, roundRow{round: round, target: t.name, wrk: w, bad: bad, others: m.others, mem: m.mem})
			if err := sleep(ctx, o.cooldown); err != nil {
				return err
			}
		}
	}
	rss, err := r.peakSoFar(r.servers["upstream"])
	if err != nil {
		return err
	}
	r.upstreamRSS = rss
	for _, t := range ts {
		rss, err := r.peakSoFar(r.servers[t.name])
		if err != nil {
			return err
		}
		r.totals[t.name].peakRSS = rss
	}
	return nil
}

// rotate returns ts starting at the (round-1)th, wrapping around.
func rotate(ts []target, round int) []target {
	off := (round - 1) % len(ts)
	return append(append([]target(nil), ts[off:]...), ts[:off]...)
}

func roundTo(v float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(v*p) / p
}

func orOff(s string) string {
	if s == "" {
		return "off"
	}
	return s
}
