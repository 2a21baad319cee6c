package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/config"
)

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
	// idleRSS is each target's VmRSS once it answers, before any load;
	// peaks is each server's VmHWM before measure last reset it, MiB.
	idleRSS, peaks map[string]float64
}

// roundRow is one measured wrk run.
type roundRow struct {
	round  int
	target string
	wrk    wrkResult
	bad    int64 // answers of the wrong kind
	others float64
	mem    rss
}

// totals add up one target's runs.
type totals struct {
	cpu, reqs     int64
	rps, p50, p99 []float64
	upConns       int64 // -1: not known
	peakRSS       float64
}

// runLoad is the load subcommand: it sets every target up, warms each up,
// runs the rounds and the rate phases, and writes the report.
func runLoad(ctx context.Context, args []string) error {
	o, p, err := parseLoadOptions(args)
	if err != nil {
		return err
	}
	if err := requirePrograms(needed(p)...); err != nil {
		return err
	}
	l, err := newLab("keygate-bench.", o.keep)
	if err != nil {
		return err
	}
	r := &loadRun{o: o, p: p, lab: l, clk: clockTicks(), bins: map[string]string{}, servers: map[string]*server{},
		auth: map[string]string{}, totals: map[string]*totals{}, idleRSS: map[string]float64{}, peaks: map[string]float64{},
		started: time.Now()}
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
	// -rate-first: the fixed rates before the maximum load, so that what
	// the maximum load leaves on the heap is not in their memory figures.
	phases := []func(context.Context) error{r.measureRounds, r.ratePhases}
	if o.rateFirst {
		phases = []func(context.Context) error{r.ratePhases, r.measureRounds}
	}
	for _, phase := range phases {
		if err := phase(ctx); err != nil {
			return err
		}
	}
	return r.report()
}

// needed lists the programs the plan runs besides what it builds.
func needed(p plan) []string {
	progs := []string{"go", "wrk"}
	if p.listed("nginx") || p.listed("nginx-authreq") {
		progs = append(progs, "nginx")
	}
	if p.needRedis() {
		progs = append(progs, "redis-server")
	}
	return progs
}

// setUp builds the binaries, writes the configs and credentials, starts
// every server and checks that each answers as it should.
func (r *loadRun) setUp(ctx context.Context) error {
	o, p, l := r.o, r.p, r.lab
	progress.Printf("building into %s", l.work)
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
		if err := runTo(ctx, r.tokens, r.bins["tokens"], "-n", strconv.Itoa(o.unknownTokens)); err != nil {
			return fmt.Errorf("bench/tokens: %w", err)
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
	if p.needRedis() {
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
			if portOpen(t.health) {
				return fmt.Errorf("port %s is already in use", addr(t.health))
			}
			argv = []string{r.bins["keygate"], "serve", "-config", cfg}
		case "nginx", "nginx-authreq":
			continue // after the keygate targets: they check keygate-bearer's token or ask keygate-check
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
	if p.listed("nginx-authreq") {
		r.auth["nginx-authreq"] = r.auth["keygate-check"]
		t, _ := lookupTarget("nginx-authreq")
		kc, _ := lookupTarget("keygate-check")
		dir := l.path("nginx-authreq")
		if err := writeNginxAuthConfig(dir, addr(t.port), addr(upstreamPort), addr(kc.port)); err != nil {
			return err
		}
		s, err := l.start("nginx-authreq", t.port, nil, nginxArgs(dir)...)
		if err != nil {
			return err
		}
		r.servers["nginx-authreq"] = s
	}

	for _, t := range p.targets {
		s := r.servers[t.name]
		if err := l.waitPort(s, t.port); err != nil {
			return err
		}
		if t.health != 0 {
			if err := l.waitPort(s, t.health); err != nil {
				return err
			}
		}
		if err := r.probe(t); err != nil {
			return err
		}
	}
	// The idle footprint: each server once it has answered its probe and
	// settled for a second, before any load.
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	for _, t := range p.targets {
		m, err := readRSS(r.servers[t.name].Pid())
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		r.idleRSS[t.name] = m.Now
	}
	var pids []string
	for _, t := range p.targets {
		pids = append(pids, fmt.Sprintf("%s=%d", t.name, r.servers[t.name].Pid()))
	}
	progress.Printf("servers up: upstream=%d %s", up.Pid(), strings.Join(pids, " "))
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
	c := keygateConfig{Name: t.name, Listen: addr(t.port), Health: addr(t.health), AccessLog: t.accessLog,
		StorePath: r.lab.path(t.name + ".db"), Runtime: r.o.keygateRuntime, UpstreamSection: r.o.keygateUp,
		Upstream: upstreamURL, Auth: t.auth, FailureLimitOff: t.unknown, Identity: t.identity, LimitMode: t.limitMode,
		ForwardAuth: t.check, Sidecar: t.sidecar}
	if t.runtime != "" {
		c.Runtime = t.runtime
	}
	if t.unix {
		c.Upstream = "unix://" + r.upSock
	}
	if t.redis() {
		c.RedisAddr = addr(redisPort)
	}
	if t.auth == "required" {
		c.Secret = newSecret()
	}
	if t.sidecar {
		c.EncryptionSecret = newSecret()
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
	path, header := r.request(t)
	if authz != "" {
		header = append(header, "Authorization: "+authz)
	}
	status, _, err := getHeaders(fmt.Sprintf("http://%s%s", addr(t.port), path), header, "")
	if err != nil || status != want {
		return fmt.Errorf("%s: GET %s answered %d (%v), want %d (see %s)", t.name, path, status, err, want, r.servers[t.name].log)
	}
	return nil
}

// request is the path and the headers besides Authorization that every
// request to t sends: GET -path, or for keygate-check the check request an
// ingress sends for it.
func (r *loadRun) request(t target) (path string, header []string) {
	if !t.check {
		return r.o.path, nil
	}
	return config.DefaultForwardAuthPath, []string{"X-Forwarded-Method: GET", "X-Forwarded-Proto: http",
		"X-Forwarded-Host: " + host, "X-Forwarded-Uri: " + r.o.path}
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
