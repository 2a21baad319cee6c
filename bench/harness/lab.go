package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// host is the only address the harness uses: every server is on loopback.
const host = "127.0.0.1"

// lab is one harness run's temporary directory and the servers it started.
// close stops them all, however the run ends.
type lab struct {
	root    string // the module root, where go build runs
	work    string // the temporary directory: binaries, configs, logs
	keep    bool   // keep work on close
	logsTo  string // where close copies the tail of each server's log, "" for nowhere
	servers []*server
}

// server is one process the harness started and measures.
type server struct {
	name string
	cmd  *exec.Cmd
	log  string // its stdout and stderr
	done chan struct{}
}

// Pid is the server's process id.
func (s *server) Pid() int { return s.cmd.Process.Pid }

// alive reports whether the server has not exited.
func (s *server) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// newLab makes the temporary directory, named prefix + random.
func newLab(prefix string, keep bool) (*lab, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	return &lab{root: root, work: work, keep: keep}, nil
}

// moduleRoot finds the directory of keygate's go.mod, upwards from the
// working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or above it: run from the keygate checkout")
		}
		dir = parent
	}
}

// path returns name inside the work directory.
func (l *lab) path(name string) string { return filepath.Join(l.work, name) }

// build builds the package at pkg (./cmd/keygate, ./bench/upstream...) into
// the work directory as name and returns its path.
func (l *lab) build(ctx context.Context, name, pkg string) (string, error) {
	out := l.path(name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = l.root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s: %w", pkg, err)
	}
	return out, nil
}

// copyBinary copies an existing binary (-keygate-bin) into the work
// directory as name.
func (l *lab) copyBinary(name, from string) (string, error) {
	st, err := os.Stat(from)
	if err != nil {
		return "", err
	}
	if st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is not executable", from)
	}
	b, err := os.ReadFile(from)
	if err != nil {
		return "", err
	}
	out := l.path(name)
	return out, os.WriteFile(out, b, 0o700)
}

// start starts a server in the background, its output to work/name.log,
// after checking that nothing else holds port (0: no TCP port to check).
// env, when not nil, is added to the harness's environment.
func (l *lab) start(name string, port int, env []string, argv ...string) (*server, error) {
	if port != 0 && portOpen(port) {
		return nil, fmt.Errorf("port %s:%d is already in use; stop whatever holds it", host, port)
	}
	logPath := l.path(name + ".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s := &server{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	l.servers = append(l.servers, s)
	return s, nil
}

// waitPort waits up to 15s for s to accept TCP connections on port.
func (l *lab) waitPort(s *server, port int) error {
	for i := 0; i < 150; i++ {
		if !s.alive() {
			return fmt.Errorf("%s exited before listening on %s:%d:\n%s", s.name, host, port, tail(s.log, 20))
		}
		if portOpen(port) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s is not listening on %s:%d after 15s:\n%s", s.name, host, port, tail(s.log, 20))
}

// close stops every server (SIGTERM, SIGKILL after 5s), keeps the tail of
// each log and removes the work directory unless it is kept.
func (l *lab) close() {
	for _, s := range l.servers {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, s := range l.servers {
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if l.logsTo != "" {
			_ = os.WriteFile(filepath.Join(l.logsTo, s.name+".log"), []byte(tail(s.log, 50)), 0o644)
		}
	}
	if l.keep {
		progress.Printf("kept %s", l.work)
		return
	}
	_ = os.RemoveAll(l.work)
}

// ours returns the CPU ticks of every server the lab started plus the
// harness's own and its waited-for children's (wrk, loadgen, the CLI).
func (l *lab) ours() int64 {
	var sum int64
	for _, s := range l.servers {
		if t, err := readProcTimes(s.Pid()); err == nil {
			sum += t.Own()
		}
	}
	if t, err := readProcTimes(os.Getpid()); err == nil {
		sum += t.Own() + t.ChildUser + t.ChildSystem
	}
	return sum
}

// portOpen reports whether something accepts TCP connections on host:port.
func portOpen(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", host, port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// get sends GET url with the Authorization header authz (if not empty) on
// a connection of its own and returns the status and body. unixSock, if
// set, is the Unix socket to connect to instead of url's host.
func get(url, authz, unixSock string) (int, string, error) {
	var header []string
	if authz != "" {
		header = []string{"Authorization: " + authz}
	}
	return getHeaders(url, header, unixSock)
}

// getHeaders is get with any headers, each "Name: value".
func getHeaders(url string, header []string, unixSock string) (int, string, error) {
	tr := &http.Transport{DisableKeepAlives: true}
	if unixSock != "" {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", unixSock)
		}
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	for _, h := range header {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Add(name, strings.TrimSpace(value))
	}
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
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

// requirePrograms checks that every program is on PATH.
func requirePrograms(progs ...string) error {
	var missing []string
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s not installed (scripts/bench.sh installs them with apt-get as root)", strings.Join(missing, ", "))
	}
	return nil
}

// runTo runs argv with its stdout and stderr going to the file out.
func runTo(ctx context.Context, out string, argv ...string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.WaitDelay = 5 * time.Second
	return cmd.Run()
}

// parseFile parses the file at path (a wrk or loadgen output, a /proc file)
// with parse, naming the file in the error.
func parseFile[T any](path string, parse func(string) (T, error)) (T, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := parse(string(b))
	if err != nil {
		return v, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}
