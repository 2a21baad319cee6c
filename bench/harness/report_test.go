package main

import (
	"strings"
	"testing"
)

// The memory table takes the medians over rounds of each phase's RSS and
// peak, and gives them as ratios to keygate-sidecar.
func TestWriteMemory(t *testing.T) {
	sc, _ := lookupTarget("keygate-sidecar")
	gc, _ := lookupTarget("keygate-sidecar-gc100")
	r := &loadRun{p: plan{targets: []target{sc, gc}, baseline: "keygate-sidecar"},
		idleRSS: map[string]float64{"keygate-sidecar": 40, "keygate-sidecar-gc100": 40},
		totals:  map[string]*totals{"keygate-sidecar": {rps: []float64{900, 1000, 1100}}, "keygate-sidecar-gc100": {rps: []float64{950, 950, 990}}}}
	rate := rateReport{rate: 500}
	for round, mem := range []struct{ sc, gc rss }{{rss{60, 70}, rss{45, 50}}, {rss{62, 80}, rss{46, 40}}, {rss{100, 120}, rss{44, 49}}} {
		rate.rows = append(rate.rows, rateRow{round: round + 1, target: "keygate-sidecar", mem: mem.sc},
			rateRow{round: round + 1, target: "keygate-sidecar-gc100", mem: mem.gc})
		r.rows = append(r.rows, roundRow{round: round + 1, target: "keygate-sidecar", mem: rss{2 * mem.sc.Now, 2 * mem.sc.Peak}},
			roundRow{round: round + 1, target: "keygate-sidecar-gc100", mem: rss{mem.gc.Now, mem.gc.Peak}})
	}
	r.rateRuns = []rateReport{rate}
	var b strings.Builder
	r.writeMemory(&b)
	out := b.String()
	for _, want := range []string{
		"| target | idle RSS | RSS at 500/s | peak at 500/s | RSS at max | peak at max | max req/s |",
		"| keygate-sidecar | 40.0 | 62.0 | 80.0 | 124.0 | 160.0 | 1000 |",
		"| keygate-sidecar-gc100 | 40.0 | 45.0 | 49.0 | 45.0 | 49.0 | 950 |",
		"| keygate-sidecar-gc100 | 1.00 | 0.73 | 0.61 | 0.36 | 0.31 | 0.95 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no line %q in\n%s", want, out)
		}
	}
}
