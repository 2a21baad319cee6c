package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"
)

// rateReport is one rate phase: the rate targets loaded at one fixed rate.
type rateReport struct {
	rate int
	how  string // where the rate came from
	rows []rateRow
	// per target: latencies per round, added latency over bare's per round,
	// CPU ticks and requests answered
	p50, p99, p999, add50, add99 map[string][]float64
	cpu, reqs                    map[string]int64
}

// rateRow is one measured loadgen run.
type rateRow struct {
	round  int
	target string
	lg     loadgenResult
	others float64
	mem    rss
}

// ratePhases runs one rate phase per rate: -rate's, or -rate-fractions of
// bare's median req/s.
func (r *loadRun) ratePhases(ctx context.Context) error {
	if len(r.p.rateTargets) == 0 {
		return nil
	}
	for _, rate := range r.p.rates {
		if err := r.ratePhase(ctx, rate, "set by -rate"); err != nil {
			return err
		}
	}
	for _, f := range r.p.fractions {
		bare := median(r.totals["bare"].rps)
		rate := int(bare * f)
		if rate < 1 {
			return fmt.Errorf("rate phase: %g of bare's median req/s %.0f is below 1; set -rate", f, bare)
		}
		if err := r.ratePhase(ctx, rate, fmt.Sprintf("%s × bare's median req/s above", strconv.FormatFloat(f, 'f', -1, 64))); err != nil {
			return err
		}
	}
	return nil
}

// ratePhase loads the rate targets at rate requests/s with bench/loadgen
// (open loop, latency from each request's scheduled start) for -rate-rounds
// rounds, the order rotating.
func (r *loadRun) ratePhase(ctx context.Context, rate int, how string) error {
	o := r.o
	rep := rateReport{rate: rate, how: how, p50: map[string][]float64{}, p99: map[string][]float64{}, p999: map[string][]float64{},
		add50: map[string][]float64{}, add99: map[string][]float64{}, cpu: map[string]int64{}, reqs: map[string]int64{}}
	progress.Printf("rate phase: %s at %d req/s (%s), %d rounds of %s (+%s lead-in)",
		targetNames(r.p.rateTargets, nil), rate, how, o.rateRounds, secs(o.rateDuration), secs(o.rateWarmup))
	for round := 1; round <= o.rateRounds; round++ {
		thisRound := map[string]loadgenResult{}
		for _, t := range rotate(r.p.rateTargets, round) {
			out := filepath.Join(r.results, fmt.Sprintf("rate%d-round%d-%s.txt", rate, round, t.name))
			path, header := r.request(t)
			argv := []string{r.bins["loadgen"], "-url", fmt.Sprintf("http://%s%s", addr(t.port), path), "-rate", strconv.Itoa(rate),
				"-duration", secs(o.rateDuration), "-warmup", secs(o.rateWarmup), "-conns", strconv.Itoa(o.rateConns)}
			if a := r.auth[t.name]; a != "" {
				argv = append(argv, "-H", "Authorization: "+a)
			}
			for _, h := range header {
				argv = append(argv, "-H", h)
			}
			s := r.servers[t.name]
			m, err := r.measureRepeated(ctx, s, fmt.Sprintf("rate %d round %d/%d: %s", rate, round, o.rateRounds, t.name), func() error {
				return r.run(ctx, s, o.rateWarmup+o.rateDuration+30*time.Second, out, argv...)
			})
			if err != nil {
				return err
			}
			lg, err := parseFile(out, parseLoadgen)
			if err != nil {
				return err
			}
			thisRound[t.name] = lg
			rep.cpu[t.name] += m.cpu
			rep.reqs[t.name] += lg.Answered
			rep.p50[t.name] = append(rep.p50[t.name], float64(lg.P50))
			rep.p99[t.name] = append(rep.p99[t.name], float64(lg.P99))
			rep.p999[t.name] = append(rep.p999[t.name], float64(lg.P999))
			r.suspect = r.suspect || lg.Failed() > 0
			rep.rows = append(rep.rows, rateRow{round: round, target: t.name, lg: lg, others: m.others, mem: m.mem})
			if err := sleep(ctx, o.cooldown); err != nil {
				return err
			}
		}
		bare := thisRound["bare"]
		for _, t := range r.p.rateTargets {
			if t.name != "bare" {
				rep.add50[t.name] = append(rep.add50[t.name], float64(thisRound[t.name].P50-bare.P50))
				rep.add99[t.name] = append(rep.add99[t.name], float64(thisRound[t.name].P99-bare.P99))
			}
		}
	}
	r.rateRuns = append(r.rateRuns, rep)
	return nil
}

// medianNum formats the median of vs as the rate tables print it.
func medianNum(vs []float64) string { return num(median(vs)) }
