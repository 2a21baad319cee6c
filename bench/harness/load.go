package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

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
	if o.accessLog && contains(names, "keygate") && !contains(names, "keygate-log") {
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

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// loadRun is one run of the load subcommand: its servers, credentials and
// everything measured.
type loadRun struct {
	o    *loadOptions
	p    plan
	lab  *lab
	clk  int64
	bins map[string]string // name -> built binary

	servers  map[string]*server
	auth     map[string]string // target -> Authorization header value
	upSock   string            // the Unix-socket upstream of keygate-unix
	tokens   string            // keygate-unknown's token file
	results  string
	started  time.Time
	reruns   int
	suspect  bool // some run had errors or unexpected answers
	rows     []roundRow
	totals   map[string]*totals
	rateRuns []rateReport
	// upstreamRSS is the shared upstream's peak RSS, MiB.
	upstreamRSS float64
}

// roundRow is one measured wrk run.
type roundRow struct {
	round  int
	target string
	wrk    wrkResult
	bad    int64 // answers of the wrong kind
	others float64
}

// totals add up one target's runs.
type totals struct {
	cpu, reqs     int64
	rps, p50, p99 []float64
	upConns       int64 // -1: not known
	peakRSS       float64
}

func runLoad(ctx context.Context, args []string) error {
	var o loadOptions
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	o.flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) { o.rateTargetsSet = o.rateTargetsSet || f.Name == "rate-targets" })
	p, err := o.resolve()
	if err != nil {
		return err
	}
	for _, prog := range needed(p) {
		if _, err := exec.LookPath(prog); err != nil {
			return fmt.Errorf("%s is not installed (scripts/bench.sh installs it with apt-get as root)", prog)
		}
	}
	l, err := newLab("keygate-bench.", o.keep)
	if err != nil {
		return err
	}
	r := &loadRun{o: &o, p: p, lab: l, clk: clockTicks(), bins: map[string]string{}, servers: map[string]*server{},
		auth: map[string]string{}, totals: map[string]*totals{}, started: time.Now()}
	r.results = o.results
	if r.results == "" {
		r.results = filepath.Join(l.root, "bench", "results", time.Now().Format("20060102-150405"))
	}
	if err := os.MkdirAll(r.results, 0o755); err != nil {
		l.close()
		return err
	}
	l.logsTo = r.results
	defer l.close()
	if err := r.setUp(ctx); err != nil {
		return err
	}
	if err := r.measureRounds(ctx); err != nil {
		return err
	}
	if err := r.ratePhases(ctx); err != nil {
		return err
	}
	return r.report()
}

// needed lists the programs the plan runs besides what it builds.
func needed(p plan) []string {
	progs := []string{"go", "wrk"}
	if p.listed("nginx") {
		progs = append(progs, "nginx")
	}
	if p.listed("keygate-rl-fast") || p.listed("keygate-rl-exact") {
		progs = append(progs, "redis-server")
	}
	return progs
}

// setUp builds the binaries, writes the configs and credentials, starts
// every server and checks that each answers as it should.
func (r *loadRun) setUp(ctx context.Context) error {
	o, p, l := r.o, r.p, r.lab
	log.Printf("building into %s", l.work)
	builds := [][2]string{{"upstream", "./bench/upstream"}, {"bareproxy", "./bench/bareproxy"}}
	if len(p.rateTargets) > 0 {
		builds = append(builds, [2]string{"loadgen", "./bench/loadgen"})
	}
	if p.listed("keygate-unknown") {
		builds = append(builds, [2]string{"tokens", "./bench/tokens"})
	}
	for _, b := range builds {
		bin, err := l.build(ctx, b[0], b[1])
		if err != nil {
			return err
		}
		r.bins[b[0]] = bin
	}
	if p.needKeygate() {
		var err error
		if o.keygateBin != "" {
			r.bins["keygate"], err = l.copyBinary("keygate", o.keygateBin)
		} else {
			r.bins["keygate"], err = l.build(ctx, "keygate", "./cmd/keygate")
		}
		if err != nil {
			return fmt.Errorf("%w; -targets \"bare default\" runs without keygate", err)
		}
	}
	if p.listed("keygate-unknown") {
		r.tokens = l.path("tokens.txt")
		out, err := exec.CommandContext(ctx, r.bins["tokens"], "-n", strconv.Itoa(o.unknownTokens)).Output()
		if err != nil {
			return fmt.Errorf("bench/tokens: %w", err)
		}
		if err := os.WriteFile(r.tokens, out, 0o600); err != nil {
			return err
		}
	}

	up, err := l.start("upstream", upstreamPort, nil, r.bins["upstream"], "-addr", fmt.Sprintf("%s:%d", host, upstreamPort))
	if err != nil {
		return err
	}
	r.servers["upstream"] = up
	if err := l.waitPort(up, upstreamPort); err != nil {
		return err
	}
	if p.listed("keygate-rl-fast") || p.listed("keygate-rl-exact") {
		s, err := l.start("redis", redisPort, nil, "redis-server", "--bind", host, "--port", strconv.Itoa(redisPort),
			"--save", "", "--appendonly", "no", "--dir", l.work)
		if err != nil {
			return err
		}
		if err := l.waitPort(s, redisPort); err != nil {
			return err
		}
	}
	if p.listed("keygate-unix") {
		// The same upstream program on a Unix socket, for keygate-unix:
		// the sidecar case, where the application is in the same pod.
		r.upSock = l.path("upstream.sock")
		if _, err := l.start("upstream-unix", 0, nil, r.bins["upstream"], "-unix", r.upSock); err != nil {
			return err
		}
		if err := waitFor(15*time.Second, func() bool { st, err := os.Stat(r.upSock); return err == nil && st.Mode()&os.ModeSocket != 0 }); err != nil {
			return fmt.Errorf("upstream-unix is not listening on %s after 15s", r.upSock)
		}
	}

	upstreamURL := fmt.Sprintf("http://%s:%d", host, upstreamPort)
	for _, t := range p.targets {
		var argv []string
		switch t.kind {
		case "bare":
			argv = []string{r.bins["bareproxy"], "-addr", addr(t.port), "-upstream", upstreamURL}
		case "default":
			argv = []string{r.bins["bareproxy"], "-default", "-addr", addr(t.port), "-upstream", upstreamURL}
		case "keygate":
			cfg, err := r.keygateTarget(ctx, t, upstreamURL)
			if err != nil {
				return err
			}
			if portOpen(t.admin) {
				return fmt.Errorf("port %s is already in use", addr(t.admin))
			}
			argv = []string{r.bins["keygate"], "serve", "-config", cfg}
		case "nginx":
			continue // after the keygate targets: it checks keygate-bearer's token
		}
		s, err := l.start(t.name, t.port, nil, argv...)
		if err != nil {
			return err
		}
		r.servers[t.name] = s
	}
	if p.listed("nginx") {
		r.auth["nginx"] = r.auth["keygate-bearer"]
		if r.auth["nginx"] == "" {
			r.auth["nginx"] = "Bearer kgl_" + strings.Map(func(c rune) rune {
				if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
					return c
				}
				return -1
			}, newSecret())
		}
		t, _ := lookupTarget("nginx")
		dir := l.path("nginx")
		if err := writeNginxConfig(dir, addr(t.port), addr(upstreamPort), r.auth["nginx"]); err != nil {
			return err
		}
		s, err := l.start("nginx", t.port, nil, nginxArgs(dir)...)
		if err != nil {
			return err
		}
		r.servers["nginx"] = s
	}

	for _, t := range p.targets {
		s := r.servers[t.name]
		if err := l.waitPort(s, t.port); err != nil {
			return err
		}
		if t.admin != 0 {
			if err := l.waitPort(s, t.admin); err != nil {
				return err
			}
		}
		if err := r.probe(t); err != nil {
			return err
		}
	}
	var pids []string
	for _, t := range p.targets {
		pids = append(pids, fmt.Sprintf("%s=%d", t.name, r.servers[t.name].Pid()))
	}
	log.Printf("servers up: upstream=%d %s", up.Pid(), strings.Join(pids, " "))
	return nil
}

func addr(port int) string { return fmt.Sprintf("%s:%d", host, port) }

// keygateTarget writes t's config and creates its credential, and returns
// the config's path.
func (r *loadRun) keygateTarget(ctx context.Context, t target, upstreamURL string) (string, error) {
	cfg := r.lab.path(t.name + ".yaml")
	if err := r.keygateConfig(t, upstreamURL).write(cfg); err != nil {
		return "", err
	}
	if t.auth != "required" {
		return cfg, nil
	}
	cli := r.lab.path(t.name + "-cli.log")
	if err := addUser(ctx, r.bins["keygate"], cfg, cli); err != nil {
		return "", fmt.Errorf("%s: %w", t.name, err)
	}
	if t.cred != "" {
		v, err := credential(ctx, r.bins["keygate"], cfg, cli, t.cred)
		if err != nil {
			return "", fmt.Errorf("%s: %w", t.name, err)
		}
		r.auth[t.name] = v
	}
	return cfg, nil
}

// keygateConfig is keygate target t's config: one route for every path to
// upstreamURL (or the Unix-socket upstream), t's auth mode, a digest key of
// its own (random, per run) when authenticated, and a private Redis as the
// store of the rate-limit targets.
func (r *loadRun) keygateConfig(t target, upstreamURL string) keygateConfig {
	c := keygateConfig{Name: t.name, Listen: addr(t.port), Admin: addr(t.admin), AccessLog: t.accessLog,
		StorePath: r.lab.path(t.name + ".db"), Runtime: r.o.keygateRuntime, UpstreamSection: r.o.keygateUp,
		Upstream: upstreamURL, Auth: t.auth, FailureLimitOff: t.unknown, Identity: t.identity, LimitMode: t.limitMode}
	if t.unix {
		c.Upstream = "unix://" + r.upSock
	}
	if t.limitMode != "" {
		c.RedisAddr = addr(redisPort)
	}
	if t.auth == "required" {
		c.Secret = newSecret()
	}
	return c
}

// probe checks that GET -path, with t's credential, answers as it must, so
// that the load goes through the path meant (the proxy, or the refusal of
// an unknown token) and not a 404 or 401 short cut.
func (r *loadRun) probe(t target) error {
	want, authz := 200, r.auth[t.name]
	if t.unknown {
		b, err := os.ReadFile(r.tokens)
		if err != nil {
			return err
		}
		first, _, _ := strings.Cut(string(b), "\n")
		want, authz = 401, "Bearer "+first
	}
	status, _, err := get(fmt.Sprintf("http://%s%s", addr(t.port), r.o.path), authz, "")
	if err != nil || status != want {
		return fmt.Errorf("%s: GET %s answered %d (%v), want %d (see %s)", t.name, r.o.path, status, err, want, r.servers[t.name].log)
	}
	return nil
}

// upstreamConns returns how many connections t's upstream has accepted so
// far (bench/upstream's /_bench/conns; each query opens one itself), or -1
// when it cannot be asked.
func (r *loadRun) upstreamConns(t target) int64 {
	url, sock := fmt.Sprintf("http://%s/_bench/conns", addr(upstreamPort)), ""
	if t.unix {
		url, sock = "http://upstream/_bench/conns", r.upSock
	}
	_, body, err := get(url, "", sock)
	if err != nil {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(body), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// waitFor polls cond every 100ms until it holds or d has passed.
func waitFor(d time.Duration, cond func() bool) error {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return nil
		}
	}
	return errors.New("timed out")
}

// sleep pauses for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
