package main

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// parseLoadOptions parses the load subcommand's flags and resolves them
// into a plan.
func parseLoadOptions(args []string) (*loadOptions, plan, error) {
	var o loadOptions
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	o.flags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, plan{}, err
	}
	fs.Visit(func(f *flag.Flag) { o.rateTargetsSet = o.rateTargetsSet || f.Name == "rate-targets" })
	p, err := o.resolve()
	return &o, p, err
}

// loadOptions are the load subcommand's flags.
type loadOptions struct {
	targets        string
	accessLog      bool
	rounds         int
	duration       time.Duration
	warmup         time.Duration
	conns, threads int
	path           string
	cooldown       time.Duration
	unknownTokens  int
	ratePhase      string
	rateFractions  string
	rates          string
	rateTargets    string
	rateRounds     int
	rateDuration   time.Duration
	rateWarmup     time.Duration
	rateConns      int
	rateFirst      bool
	otherCPUMax    int
	reruns         int
	results        string
	keygateRuntime string
	keygateUp      string
	keygateBin     string
	keep           bool

	rateTargetsSet bool // -rate-targets was given
}

func (o *loadOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.targets, "targets", "bare keygate", "targets to load, in order, space-separated: "+targetNames(targets, nil)+"; the baseline for ratios is bare if listed, else the first")
	fs.BoolVar(&o.accessLog, "access-log", false, "add keygate-log (keygate with access_log: true) when keygate is listed")
	fs.IntVar(&o.rounds, "rounds", 5, "measured rounds")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "wrk -d of one measured run (whole seconds)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "wrk -d of the warm-up run per target, before round 1")
	fs.IntVar(&o.conns, "conns", 64, "wrk -c")
	fs.IntVar(&o.threads, "threads", 2, "wrk -t")
	fs.StringVar(&o.path, "path", "/bench/item", "request path")
	fs.DurationVar(&o.cooldown, "cooldown", time.Second, "pause between runs")
	fs.IntVar(&o.unknownTokens, "unknown-tokens", 400000, "distinct tokens keygate-unknown cycles through")
	fs.StringVar(&o.ratePhase, "rate-phase", "auto", "1 runs the rate phase, 0 skips it; auto runs it when -targets has bare and keygate-bearer or keygate-apikey")
	fs.StringVar(&o.rateFractions, "rate-fractions", "0.5", "the rate phase's rates as fractions of bare's median req/s, space-separated; one rate phase each")
	fs.StringVar(&o.rates, "rate", "", "the rate phase's rates in requests/s instead (e.g. \"8000 4000\")")
	fs.StringVar(&o.rateTargets, "rate-targets", "bare keygate-bearer keygate-apikey", "targets of the rate phase, those of them in -targets")
	fs.IntVar(&o.rateRounds, "rate-rounds", 5, "rounds of the rate phase")
	fs.DurationVar(&o.rateDuration, "rate-duration", 0, "measured length of one rate run (0: -duration)")
	fs.DurationVar(&o.rateWarmup, "rate-warmup", time.Second, "loadgen's unmeasured lead-in per run, same rate")
	fs.IntVar(&o.rateConns, "rate-conns", 0, "loadgen's connections, the most requests in flight (0: -conns)")
	fs.BoolVar(&o.rateFirst, "rate-first", false, "run the rate phases (set by -rate) before the maximum-load rounds, so that their memory figures do not include what the maximum load left")
	fs.IntVar(&o.otherCPUMax, "other-cpu-max", 0, "on a shared machine: run a measured run again when processes the harness did not start used more than this percentage of all cores meanwhile (0: never; every run's share is reported either way)")
	fs.IntVar(&o.reruns, "reruns", 3, "at most this many reruns of one run")
	fs.StringVar(&o.results, "results", "", "directory for raw wrk and loadgen output, server log tails, metrics and summary.md (default bench/results/YYYYmmdd-HHMMSS, git-ignored)")
	fs.StringVar(&o.keygateRuntime, "keygate-runtime", "", "a YAML flow map for every keygate target's runtime section, e.g. \"{gomaxprocs: 1}\"")
	fs.StringVar(&o.keygateUp, "keygate-upstream", "", "a YAML flow map for every keygate target's upstream section, e.g. \"{max_idle_conns_per_host: 1024}\"")
	fs.StringVar(&o.keygateBin, "keygate-bin", "", "use this keygate binary instead of building ./cmd/keygate")
	fs.BoolVar(&o.keep, "keep-tmp", false, "keep the temporary directory (binaries, configs, logs)")
}

// plan is what the options resolve to: the targets in order, the baseline
// and the rate phase's targets.
type plan struct {
	targets     []target
	baseline    string
	rateTargets []target
	fractions   []float64
	rates       []int
}

func (p plan) listed(name string) bool {
	for _, t := range p.targets {
		if t.name == name {
			return true
		}
	}
	return false
}

// needRedis says whether a target's store is the private redis-server.
func (p plan) needRedis() bool {
	return slices.ContainsFunc(p.targets, target.redis)
}

func (p plan) needKeygate() bool {
	for _, t := range p.targets {
		if t.kind == "keygate" {
			return true
		}
	}
	return false
}

// wholeSeconds checks that d is a whole number of seconds, at least min.
func wholeSeconds(flagName string, d time.Duration, atLeast int) error {
	if d%time.Second != 0 || d < time.Duration(atLeast)*time.Second {
		return fmt.Errorf("-%s must be whole seconds, at least %ds, got %s", flagName, atLeast, d)
	}
	return nil
}

// secs formats a whole-seconds duration the way wrk and loadgen take it.
func secs(d time.Duration) string { return strconv.Itoa(int(d/time.Second)) + "s" }

// resolve validates the options and works out the plan. Every problem is
// reported, each naming its flag.
func (o *loadOptions) resolve() (plan, error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if o.rounds < 1 {
		bad("-rounds must be at least 1, got %d", o.rounds)
	}
	if o.threads < 1 || o.conns < o.threads {
		bad("need -threads >= 1 and -conns >= -threads, got %d and %d", o.threads, o.conns)
	}
	if err := wholeSeconds("duration", o.duration, 1); err != nil {
		errs = append(errs, err)
	}
	if err := wholeSeconds("warmup", o.warmup, 0); err != nil {
		errs = append(errs, err)
	}
	if !strings.HasPrefix(o.path, "/") || strings.ContainsAny(o.path, " \t\r\n") {
		bad("-path must start with / and have no spaces, got %q", o.path)
	}
	if o.otherCPUMax < 0 || o.reruns < 0 || o.cooldown < 0 {
		bad("-other-cpu-max, -reruns and -cooldown must not be negative")
	}

	var p plan
	seen := map[string]bool{}
	names := strings.Fields(o.targets)
	if o.accessLog && slices.Contains(names, "keygate") && !slices.Contains(names, "keygate-log") {
		names = append(names, "keygate-log")
	}
	if len(names) == 0 {
		bad("-targets is empty")
	}
	for _, n := range names {
		t, ok := lookupTarget(n)
		switch {
		case !ok:
			bad("-targets: unknown target %q (want %s)", n, targetNames(targets, nil))
		case seen[n]:
			bad("-targets: %q listed twice", n)
		default:
			seen[n] = true
			p.targets = append(p.targets, t)
		}
	}
	if len(p.targets) > 0 {
		p.baseline = p.targets[0].name
	}
	if seen["bare"] {
		p.baseline = "bare"
	}
	if seen["nginx-authreq"] && !seen["keygate-check"] {
		bad("-targets: nginx-authreq asks keygate-check: list keygate-check too")
	}
	if seen["keygate-unknown"] && (o.unknownTokens < 1000 || o.unknownTokens%max(o.threads, 1) != 0) {
		bad("-unknown-tokens must be at least 1000 and a multiple of -threads, got %d", o.unknownTokens)
	}

	switch o.ratePhase {
	case "0":
	case "1", "auto":
		hasAuth := false
		for _, n := range strings.Fields(o.rateTargets) {
			t, ok := lookupTarget(n)
			if !ok || !t.rate {
				bad("-rate-targets: %q cannot be in the rate phase (want %s)", n, targetNames(targets, func(t target) bool { return t.rate }))
				continue
			}
			if seen[n] {
				p.rateTargets = append(p.rateTargets, t)
				hasAuth = hasAuth || t.authenticated()
			} else if o.rateTargetsSet {
				bad("-rate-targets: %q is not in -targets", n)
			}
		}
		hasBare := false
		for _, t := range p.rateTargets {
			hasBare = hasBare || t.name == "bare"
		}
		if !hasBare || len(p.rateTargets) < 2 || (!o.rateTargetsSet && !hasAuth) {
			if o.ratePhase == "1" {
				bad("-rate-phase 1 needs bare and another rate target (keygate-bearer, keygate-apikey) in -targets")
			}
			p.rateTargets = nil
		}
	default:
		bad("-rate-phase must be 0, 1 or auto, got %q", o.ratePhase)
	}
	if len(p.rateTargets) > 0 {
		if o.rateDuration == 0 {
			o.rateDuration = o.duration
		}
		if o.rateConns == 0 {
			o.rateConns = o.conns
		}
		if o.rateRounds < 1 {
			bad("-rate-rounds must be at least 1, got %d", o.rateRounds)
		}
		if o.rateConns < 1 || o.rateConns > 4096 {
			bad("-rate-conns must be between 1 and 4096, got %d", o.rateConns)
		}
		if err := wholeSeconds("rate-duration", o.rateDuration, 1); err != nil {
			errs = append(errs, err)
		}
		if err := wholeSeconds("rate-warmup", o.rateWarmup, 0); err != nil {
			errs = append(errs, err)
		}
		for _, f := range strings.Fields(o.rates) {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				bad("-rate must be whole numbers of requests/s, got %q", o.rates)
				break
			}
			p.rates = append(p.rates, n)
		}
		if o.rateFirst && len(p.rates) == 0 {
			bad("-rate-first needs -rate: -rate-fractions are of the rounds' figures")
		}
		if len(p.rates) == 0 {
			for _, f := range strings.Fields(o.rateFractions) {
				x, err := strconv.ParseFloat(f, 64)
				if err != nil || x <= 0 || x > 1 {
					bad("-rate-fractions must be fractions such as \"0.5 0.25\", got %q", o.rateFractions)
					break
				}
				p.fractions = append(p.fractions, x)
			}
		}
	}
	return p, errors.Join(errs...)
}
