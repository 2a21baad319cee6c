package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/config"
)

// The instructions subcommand counts the user-space instructions each
// target spends per proxied request, with valgrind's callgrind.
//
// wrk's requests/s on a shared 2-core machine move by 10-20 % between
// rounds a minute apart, too much to tell a 5 % difference. An instruction
// count does not move: the same binary, config and requests give the same
// count to within a few tenths of a per cent. It is not a time (a cache miss
// or a system call costs far more than an instruction, and the kernel's
// work, about a third of a proxy's CPU here, is not counted), so it answers
// "how much more work does X do than Y in the process", and load still
// answers "how fast".
//
// Each target runs alone under callgrind, on loopback, in front of
// bench/upstream. curl sends -warm requests over one keep-alive connection,
// the counters are zeroed (callgrind_control -z), curl sends -n more on one
// connection, one after another, and the counters are dumped
// (callgrind_control -d): the dump's instruction total divided by -n is the
// figure. Everything the process does meanwhile counts (net/http, the
// runtime and its garbage collector, keygate), once per request on average.
//
// Go runs with GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off: callgrind fails on
// the signals Go uses to preempt goroutines, and valgrind 3.19 (Debian 12)
// stops at RDTSCP, which the runtime reads the time stamp counter with
// where the CPU has it; with it off the runtime uses RDTSC. valgrind does not emulate the SHA extensions,
// so Go's SHA-256 takes its AVX2 path here and HMAC costs about four times
// what it costs on a CPU with SHA-NI (see docs/benchmarks.md).

const (
	instrUpstreamPort = 9301
	instrPort         = 9302
	instrHealth       = 9392
)

// instrTargets are the instructions subcommand's targets, in report order.
var instrTargets = []string{"bare", "keygate", "keygate-authheader", "keygate-bearer-none", "keygate-bearer-user", "keygate-bearer", "keygate-bearer-cors", "keygate-check", "keygate-apikey", "nginx"}

// corsOrigin is the origin keygate-bearer-cors's route allows and its
// requests come from.
const corsOrigin = "https://app.example.com"

// instrSteps are the rows of the "added instructions" table: each target
// against the one before it that was counted.
var instrSteps = []string{"keygate", "keygate-authheader", "keygate-bearer-none", "keygate-bearer-user", "keygate-bearer"}

type instrRun struct {
	lab           *lab
	n, warm       int
	gogc          string
	clientHeaders bool
	bins          map[string]string
	bearer        string
	apikey        string
}

// runInstructions is the instructions subcommand: each target counted
// -repeat times under callgrind, the median per target, as markdown.
func runInstructions(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("instructions", flag.ContinueOnError)
	targetList := fs.String("targets", strings.Join(instrTargets, " "), "targets, space-separated, from "+strings.Join(instrTargets, ", ")+" (nginx is skipped when not installed)")
	n := fs.Int("n", 2000, "requests counted per run")
	warm := fs.Int("warm", 500, "requests before the counters are zeroed")
	repeat := fs.Int("repeat", 2, "runs per target")
	gogc := fs.String("gogc", "off", "the Go targets' GOGC: with the collector off the count does not depend on how many collections fall in the counted window; 400 (keygate's default) counts them too, at about ±1 % between runs")
	clientHeaders := fs.Bool("client-headers", false, "every request carries four more headers besides curl's User-Agent and Accept (Accept-Encoding, Accept-Language, Cache-Control, X-Client-Version), as API clients often send")
	keygateBin := fs.String("keygate-bin", "", "count this keygate binary instead of building ./cmd/keygate (to compare two versions with the same -n)")
	keep := fs.Bool("keep-tmp", false, "keep the temporary directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *warm < 0 || *repeat < 1 {
		return errors.New("-n and -repeat must be at least 1, -warm at least 0")
	}
	var ts []string
	for _, t := range strings.Fields(*targetList) {
		if !slices.Contains(instrTargets, t) {
			return fmt.Errorf("-targets: unknown target %q (want %s)", t, strings.Join(instrTargets, ", "))
		}
		if t == "nginx" {
			if requirePrograms("nginx") != nil {
				progress.Print("nginx is not installed: leaving it out (scripts/bench.sh installs it as root)")
				continue
			}
		}
		ts = append(ts, t)
	}
	if len(ts) == 0 {
		return errors.New("-targets is empty")
	}
	if err := requirePrograms("valgrind", "callgrind_control", "curl"); err != nil {
		return err
	}
	for _, p := range []int{instrUpstreamPort, instrPort, instrHealth} {
		if portOpen(p) {
			return fmt.Errorf("port %s is taken", addr(p))
		}
	}

	l, err := newLab("keygate-instr.", *keep)
	if err != nil {
		return err
	}
	defer l.close()
	r := &instrRun{lab: l, n: *n, warm: *warm, gogc: *gogc, clientHeaders: *clientHeaders, bins: map[string]string{}}
	if err := r.setUp(ctx, *keygateBin); err != nil {
		return err
	}

	ir := map[string]int64{}
	spreads := map[string]float64{}
	for _, t := range ts {
		var runs []int64
		for run := 1; run <= *repeat; run++ {
			c, err := r.count(ctx, t, run)
			if err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
			progress.Printf("%s run %d: %d instructions/request", t, run, c)
			runs = append(runs, c)
		}
		ir[t] = median(runs)
		spreads[t] = spread(runs, ir[t])
	}

	version := commit(l.root, "")
	if *keygateBin != "" {
		version = "keygate binary " + *keygateBin
	}
	vg, _ := exec.Command("valgrind", "--version").Output()
	fmt.Printf("## Instructions per request (%s, %s)\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), version)
	fmt.Printf("valgrind %s, %s, -gogc %s, -client-headers=%t, -n %d requests after -warm %d, median of -repeat %d runs\n\n",
		strings.TrimPrefix(strings.TrimSpace(string(vg)), "valgrind-"), goVersion(), *gogc, *clientHeaders, *n, *warm, *repeat)
	fmt.Print(instructionsTables(ts, ir, spreads))
	return nil
}

// instructionsTables formats the counts: each target against the baseline
// (bare if counted, else the first) and against keygate, then what each
// step from keygate to keygate-bearer adds.
func instructionsTables(ts []string, ir map[string]int64, spreads map[string]float64) string {
	var b strings.Builder
	base := ts[0]
	if slices.Contains(ts, "bare") {
		base = "bare"
	}
	haveKeygate := slices.Contains(ts, "keygate")
	both := haveKeygate && base != "keygate"
	r3 := func(a, b int64) string { return fmt.Sprintf("%.3f", float64(a)/float64(b)) }
	fmt.Fprintf(&b, "| target | instructions/request | spread %% | vs %s |", base)
	if both {
		b.WriteString(" vs keygate |")
	}
	b.WriteString("\n|---|---:|---:|---:|")
	if both {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, t := range ts {
		fmt.Fprintf(&b, "| %s | %d | %.1f | %s |", t, ir[t], spreads[t], r3(ir[t], ir[base]))
		if both {
			fmt.Fprintf(&b, " %s |", r3(ir[t], ir["keygate"]))
		}
		b.WriteString("\n")
	}
	if haveKeygate {
		b.WriteString("\n| step | added instructions/request |\n|---|---:|\n")
		prev := "keygate"
		for _, t := range instrSteps[1:] {
			if !slices.Contains(ts, t) {
				continue
			}
			fmt.Fprintf(&b, "| %s → %s | %d |\n", prev, t, ir[t]-ir[prev])
			prev = t
		}
	}
	return b.String()
}

// setUp builds the binaries, starts the upstream, writes one config per
// auth variant and creates the credentials. One store and digest key serve
// every keygate target: they run one at a time, so they share the file.
func (r *instrRun) setUp(ctx context.Context, keygateBin string) error {
	l := r.lab
	progress.Printf("building into %s", l.work)
	var err error
	for _, b := range [][2]string{{"upstream", "./bench/upstream"}, {"bareproxy", "./bench/bareproxy"}} {
		if r.bins[b[0]], err = l.build(ctx, b[0], b[1]); err != nil {
			return err
		}
	}
	if keygateBin != "" {
		r.bins["keygate"], err = l.copyBinary("keygate", keygateBin)
	} else {
		r.bins["keygate"], err = l.build(ctx, "keygate", "./cmd/keygate")
	}
	if err != nil {
		return err
	}
	up, err := l.start("upstream", instrUpstreamPort, nil, r.bins["upstream"], "-addr", addr(instrUpstreamPort))
	if err != nil {
		return err
	}
	if err := l.waitPort(up, instrUpstreamPort); err != nil {
		return err
	}
	secret := newSecret()
	for name, c := range map[string]keygateConfig{
		"none":  {Auth: "none"},
		"five":  {Auth: "required"},
		"user":  {Auth: "required", Identity: "[user]"},
		"zero":  {Auth: "required", Identity: "[]"},
		"cors":  {Auth: "required", CORSOrigin: corsOrigin},
		"check": {Auth: "required", ForwardAuth: true},
	} {
		c.Listen, c.Health, c.StorePath, c.Upstream = addr(instrPort), addr(instrHealth), l.path("keygate.db"), "http://"+addr(instrUpstreamPort)
		c.Secret = secret // the none config has it too: one store, one key
		if err := c.write(l.path(name + ".yaml")); err != nil {
			return err
		}
	}
	cfg, cli := l.path("five.yaml"), l.path("cli.log")
	if err := addUser(ctx, r.bins["keygate"], cfg, cli); err != nil {
		return err
	}
	if r.bearer, err = credential(ctx, r.bins["keygate"], cfg, cli, credBearer); err != nil {
		return err
	}
	if r.apikey, err = credential(ctx, r.bins["keygate"], cfg, cli, credAPIKey); err != nil {
		return err
	}
	return writeNginxConfig(l.path("nginx"), addr(instrPort), addr(instrUpstreamPort), r.bearer)
}

// instrKeygate are the keygate targets: the config each serves and the
// credential its requests send (credBearer, credAPIKey, or "" for none).
var instrKeygate = map[string]struct{ config, cred string }{
	"keygate":             {"none", ""},
	"keygate-authheader":  {"none", credBearer},
	"keygate-bearer-none": {"zero", credBearer},
	"keygate-bearer-user": {"user", credBearer},
	"keygate-bearer":      {"five", credBearer},
	"keygate-bearer-cors": {"cors", credBearer},
	"keygate-check":       {"check", credBearer},
	"keygate-apikey":      {"five", credAPIKey},
}

// command returns target t's command line and the Authorization header its
// requests send.
func (r *instrRun) command(t string) ([]string, string) {
	if t == "bare" {
		return []string{r.bins["bareproxy"], "-addr", addr(instrPort), "-upstream", "http://" + addr(instrUpstreamPort)}, ""
	}
	k, ok := instrKeygate[t]
	if !ok {
		return nginxArgs(r.lab.path("nginx")), r.bearer
	}
	authz := map[string]string{credBearer: r.bearer, credAPIKey: r.apikey}[k.cred]
	return []string{r.bins["keygate"], "serve", "-config", r.lab.path(k.config + ".yaml")}, authz
}

// count runs t under callgrind once and returns its instructions per
// request.
func (r *instrRun) count(ctx context.Context, t string, run int) (int64, error) {
	argv, authz := r.command(t)
	out := r.lab.path(fmt.Sprintf("callgrind.%s.%d", t, run))
	var h []string
	if authz != "" {
		h = append(h, "-H", "Authorization: "+authz)
	}
	url := fmt.Sprintf("http://%s/bench/item", addr(instrPort))
	switch t {
	case "keygate-bearer-cors": // a browser's cross-origin request from the allowed origin
		h = append(h, "-H", "Origin: "+corsOrigin)
	case "keygate-check": // what an ingress asks keygate about GET /bench/item
		url = fmt.Sprintf("http://%s%s", addr(instrPort), config.DefaultForwardAuthPath)
		h = append(h, "-H", "X-Forwarded-Method: GET", "-H", "X-Forwarded-Proto: http",
			"-H", "X-Forwarded-Host: "+host, "-H", "X-Forwarded-Uri: /bench/item")
	}
	if r.clientHeaders {
		h = append(h, "-H", "Accept-Encoding: gzip", "-H", "Accept-Language: en-GB", "-H", "Cache-Control: no-cache", "-H", "X-Client-Version: 1.0")
	}
	vg := append([]string{"valgrind", "--tool=callgrind", "--callgrind-out-file=" + out}, argv...)
	s, err := r.lab.start(filepath.Base(out), instrPort, []string{"GOGC=" + r.gogc, "GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off"}, vg...)
	if err != nil {
		return 0, err
	}
	defer func() {
		_ = s.cmd.Process.Kill()
		<-s.done
	}()
	curl := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "curl", append(append([]string{"-s", "-o", "/dev/null"}, h...), args...)...)
		b, err := cmd.Output()
		return string(b), err
	}
	up := false
	for i := 0; i < 120 && !up; i++ {
		code, _ := curl("-w", "%{http_code}", url)
		up = code == "200"
		if !up {
			if !s.alive() {
				return 0, fmt.Errorf("died under valgrind: %s", tail(s.log, 3))
			}
			if err := sleep(ctx, 500*time.Millisecond); err != nil {
				return 0, err
			}
		}
	}
	if !up {
		return 0, errors.New("did not answer 200 under valgrind")
	}
	if r.warm > 0 {
		if _, err := curl(fmt.Sprintf("%s?[1-%d]", url, r.warm)); err != nil {
			return 0, fmt.Errorf("warm-up requests: %w", err)
		}
	}
	pid := strconv.Itoa(s.Pid())
	if err := exec.CommandContext(ctx, "callgrind_control", "-z", pid).Run(); err != nil {
		return 0, fmt.Errorf("callgrind_control -z: %w", err)
	}
	codes, err := curl("-w", "%{http_code}\n", fmt.Sprintf("%s?[1-%d]", url, r.n))
	if err != nil {
		return 0, fmt.Errorf("counted requests: %w", err)
	}
	if err := exec.CommandContext(ctx, "callgrind_control", "-d", pid).Run(); err != nil {
		return 0, fmt.Errorf("callgrind_control -d: %w", err)
	}
	if ok := strings.Count(codes, "200\n"); ok != r.n {
		return 0, fmt.Errorf("%d of %d counted requests got 200", ok, r.n)
	}
	dumps, _ := filepath.Glob(out + ".*")
	for _, d := range dumps {
		if strings.HasSuffix(d, ".log") {
			continue
		}
		if ir, ok := callgrindTotal(d); ok {
			return ir / int64(r.n), nil
		}
	}
	return 0, fmt.Errorf("callgrind wrote no dump (%s.*)", out)
}

// callgrindTotal reads the instruction total ("summary:" or "totals:") of a
// callgrind dump.
func callgrindTotal(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && (fields[0] == "summary:" || fields[0] == "totals:") {
			n, err := strconv.ParseInt(fields[1], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
