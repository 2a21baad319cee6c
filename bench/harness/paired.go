package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// The paired subcommand: what authentication costs keygate in CPU, with
// both sides loaded at the same time.
//
// load runs its targets one after another, and on a shared machine the
// CPU's own speed drifts between runs a minute apart, which moves CPU per
// request by 10-20 %. Here two keygate processes, one with an auth: none
// route ("off") and one requiring a valid Bearer key token ("on"), serve the
// same upstream at the same time, each loaded by its own bench/loadgen at
// the same fixed rate. Whatever the machine does during a round, it does to
// both, so the ratio of their CPU per request (user + system time from
// /proc, over the requests answered) is steady where the absolute figures
// are not.
//
// The rate matters: at a low rate every request wakes the process up on
// its own, and that fixed cost dilutes authentication's share; near
// saturation requests are served in batches and authentication's share is
// largest.

const (
	pairedUpstreamPort = 9401
	pairedOffPort      = 9402
	pairedOffHealth    = 9492
	pairedOnPort       = 9403
	pairedOnHealth     = 9493
)

// runPaired is the paired subcommand: the off and on keygates loaded at
// once for -rounds rounds, one markdown row a round and the median ratio.
func runPaired(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("paired", flag.ContinueOnError)
	rate := fs.Int("rate", 4000, "requests/s sent to each of the two")
	duration := fs.Duration("duration", 15*time.Second, "length of one round (whole seconds)")
	rounds := fs.Int("rounds", 5, "rounds")
	conns := fs.Int("conns", 32, "loadgen connections per keygate")
	identity := fs.String("identity", "", "auth.upstream_identity of \"on\", e.g. \"[user]\" (default keygate's: all five)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rate < 1 || *rounds < 1 || *conns < 1 {
		return errors.New("-rate, -rounds and -conns must be at least 1")
	}
	if err := wholeSeconds("duration", *duration, 1); err != nil {
		return err
	}
	for _, p := range []int{pairedUpstreamPort, pairedOffPort, pairedOffHealth, pairedOnPort, pairedOnHealth} {
		if portOpen(p) {
			return fmt.Errorf("port %s is taken", addr(p))
		}
	}
	l, err := newLab("keygate-paired.", false)
	if err != nil {
		return err
	}
	defer l.close()
	progress.Printf("building into %s", l.work)
	bins := map[string]string{}
	for _, b := range [][2]string{{"keygate", "./cmd/keygate"}, {"upstream", "./bench/upstream"}, {"loadgen", "./bench/loadgen"}} {
		if bins[b[0]], err = l.build(ctx, b[0], b[1]); err != nil {
			return err
		}
	}

	upstream := "http://" + addr(pairedUpstreamPort)
	off := keygateConfig{Listen: addr(pairedOffPort), Health: addr(pairedOffHealth), StorePath: l.path("off.db"), Upstream: upstream, Auth: "none"}
	on := keygateConfig{Listen: addr(pairedOnPort), Health: addr(pairedOnHealth), StorePath: l.path("on.db"), Upstream: upstream,
		Auth: "required", Secret: newSecret(), Identity: *identity}
	if err := off.write(l.path("off.yaml")); err != nil {
		return err
	}
	if err := on.write(l.path("on.yaml")); err != nil {
		return err
	}
	cli := l.path("cli.log")
	if err := addUser(ctx, bins["keygate"], l.path("on.yaml"), cli); err != nil {
		return err
	}
	bearer, err := credential(ctx, bins["keygate"], l.path("on.yaml"), cli, credBearer)
	if err != nil {
		return err
	}

	up, err := l.start("upstream", pairedUpstreamPort, nil, bins["upstream"], "-addr", addr(pairedUpstreamPort))
	if err != nil {
		return err
	}
	offS, err := l.start("off", pairedOffPort, nil, bins["keygate"], "serve", "-config", l.path("off.yaml"))
	if err != nil {
		return err
	}
	onS, err := l.start("on", pairedOnPort, nil, bins["keygate"], "serve", "-config", l.path("on.yaml"))
	if err != nil {
		return err
	}
	for s, port := range map[*server]int{up: pairedUpstreamPort, offS: pairedOffPort, onS: pairedOnPort} {
		if err := l.waitPort(s, port); err != nil {
			return err
		}
	}
	offURL, onURL := fmt.Sprintf("http://%s/bench/item", addr(pairedOffPort)), fmt.Sprintf("http://%s/bench/item", addr(pairedOnPort))
	var a, b int
	_ = waitFor(10*time.Second, func() bool {
		a, _, _ = get(offURL, "", "")
		b, _, _ = get(onURL, bearer, "")
		return a == 200 && b == 200
	})
	if a != 200 || b != 200 {
		return fmt.Errorf("the two keygates did not answer 200 (off: %d, on: %d)", a, b)
	}

	clk := clockTicks()
	load := func(url, out, authz string) error {
		argv := []string{"-url", url, "-rate", strconv.Itoa(*rate), "-duration", secs(*duration), "-warmup", "1s", "-conns", strconv.Itoa(*conns)}
		if authz != "" {
			argv = append(argv, "-H", "Authorization: "+authz)
		}
		if err := runTo(ctx, out, append([]string{bins["loadgen"]}, argv...)...); err != nil {
			return fmt.Errorf("loadgen %s: %w (see %s)", url, err, out)
		}
		return nil
	}
	progress.Printf("%d rounds of %s at %d req/s each", *rounds, secs(*duration), *rate)
	fmt.Println("| round | off CPU µs/req | on CPU µs/req | on / off | off p99 ms | on p99 ms |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|")
	var ratios []float64
	for round := 1; round <= *rounds; round++ {
		before, err := ownTicks(offS, onS)
		if err != nil {
			return err
		}
		outOff, outOn := l.path(fmt.Sprintf("off.%d", round)), l.path(fmt.Sprintf("on.%d", round))
		var wg sync.WaitGroup
		var errOff, errOn error
		wg.Add(2)
		go func() { defer wg.Done(); errOff = load(offURL, outOff, "") }()
		go func() { defer wg.Done(); errOn = load(onURL, outOn, bearer) }()
		wg.Wait()
		if err := errors.Join(errOff, errOn); err != nil {
			return err
		}
		after, err := ownTicks(offS, onS)
		if err != nil {
			return err
		}
		row, err := pairedRound(round, after[0]-before[0], after[1]-before[1], clk, outOff, outOn)
		if err != nil {
			return err
		}
		fmt.Println(row.String())
		ratios = append(ratios, roundTo(row.ratio, 3))
	}
	fmt.Printf("| median | | | **%.3f** | | |\n", median(ratios))
	return nil
}

// pairedRow is one round of the paired subcommand.
type pairedRow struct {
	round         int
	offCPU, onCPU float64 // µs per request
	ratio         float64 // onCPU / offCPU
	offP99, onP99 float64 // ms
}

func (r pairedRow) String() string {
	return fmt.Sprintf("| %d | %.1f | %.1f | %.3f | %.2f | %.2f |", r.round, r.offCPU, r.onCPU, r.ratio, r.offP99, r.onP99)
}

// pairedRound works out one round from the CPU ticks each keygate used and
// the two loadgen outputs. A failed request fails the round.
func pairedRound(round int, offTicks, onTicks, clk int64, outOff, outOn string) (pairedRow, error) {
	var lg [2]loadgenResult
	for i, out := range []string{outOff, outOn} {
		var err error
		if lg[i], err = parseFile(out, parseLoadgen); err != nil {
			return pairedRow{}, err
		}
		if lg[i].Errors+lg[i].BadStatus > 0 {
			return pairedRow{}, fmt.Errorf("round %d: a request failed (see %s)", round, out)
		}
	}
	offCPU, ok1 := perRequest(offTicks, clk, lg[0].Answered)
	onCPU, ok2 := perRequest(onTicks, clk, lg[1].Answered)
	if !ok1 || !ok2 || offCPU == 0 {
		return pairedRow{}, fmt.Errorf("round %d: no requests answered or no CPU used", round)
	}
	return pairedRow{round: round, offCPU: offCPU, onCPU: onCPU, ratio: onCPU / offCPU,
		offP99: float64(lg[0].P99) / 1000, onP99: float64(lg[1].P99) / 1000}, nil
}

// ownTicks reads the CPU ticks each server has used so far.
func ownTicks(servers ...*server) ([]int64, error) {
	ticks := make([]int64, len(servers))
	for i, s := range servers {
		t, err := readProcTimes(s.Pid())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		ticks[i] = t.Own()
	}
	return ticks, nil
}
