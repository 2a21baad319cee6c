// Package redistest gives tests a real Redis: a private redis-server process
// on a free loopback port, or the server named by KEYGATE_TEST_REDIS_ADDR.
// StartSentinel and StartCluster build the replicated setups from the same
// private processes: a master, a replica and three sentinels, or a Redis
// Cluster of several masters.
//
// A test that needs Redis and finds neither fails with a message saying how
// to get one; it is never skipped silently. Tests sharing one server keep
// apart by using a distinct key prefix each (Prefix).
package redistest

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/testkit"
)

// EnvAddr names the environment variable holding the host:port of a Redis
// that Addr uses instead of starting a private server. Tests may write to
// it (under their own prefix) but never flush it.
const EnvAddr = "KEYGATE_TEST_REDIS_ADDR"

// readyTimeout bounds the wait for a started server to answer PING.
const readyTimeout = 10 * time.Second

// Server is a private redis-server process, stopped when the test ends.
// Nothing is kept on disk: a restarted server starts empty.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	conf string // config file, first on the command line; "" for none
	args []string
	port int
	// tls, if set, makes the server accept TLS on tlsPort as well.
	tls     *TLSFiles
	tlsPort int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	out  *testkit.Buffer
}

// Start starts a private redis-server on a free 127.0.0.1 port, in its own
// temporary directory (its working directory), and waits until it answers.
// args are added to its command line (for example "--cluster-enabled",
// "yes"). It fails the test if there is no redis-server binary in PATH.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	return startConf(t, "", args...)
}

// startConf is Start with a config file holding conf (if not empty) in the
// server's directory, named first on its command line as redis-server
// wants it (a sentinel needs one it can rewrite).
func startConf(t testing.TB, conf string, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redistest: this test needs a redis-server binary in PATH (apt-get install redis-server): %v", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), args: args}
	if conf != "" {
		s.conf = filepath.Join(s.dir, "redis.conf")
		if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
			t.Fatalf("redistest: writing %s: %v", s.conf, err)
		}
	}
	return startServer(t, s)
}

// TLSFiles are the PEM files of a TLS redis-server (StartTLS).
type TLSFiles struct {
	// CertFile and KeyFile are the server's certificate and key.
	CertFile, KeyFile string
	// CAFile verifies client certificates.
	CAFile string
	// RequireClientCert refuses clients without a certificate from CAFile.
	RequireClientCert bool
}

// StartTLS is Start for a server that accepts TLS on TLSAddr besides plain
// connections on Addr (which this package uses to see that it is ready).
func StartTLS(t testing.TB, files TLSFiles, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redistest: this test needs a redis-server binary in PATH (apt-get install redis-server): %v", err)
	}
	return startServer(t, &Server{t: t, bin: bin, dir: t.TempDir(), args: args, tls: &files})
}

// TLSAddr is the host:port of the TLS listener of a server from StartTLS.
func (s *Server) TLSAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.tlsPort)) }

func startServer(t testing.TB, s *Server) *Server {
	t.Helper()
	var err, lastErr error
	for range 5 { // a free port can be taken between choosing and binding
		if s.port, err = freePort(); err != nil {
			t.Fatalf("redistest: choosing a port: %v", err)
		}
		if s.tls != nil {
			if s.tlsPort, err = freePort(); err != nil {
				t.Fatalf("redistest: choosing a port: %v", err)
			}
		}
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("redistest: starting redis-server: %v", lastErr)
	return nil
}

// Addr returns the address of a Redis for the test: KEYGATE_TEST_REDIS_ADDR
// if set, else a private server started with Start.
func Addr(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv(EnvAddr); addr != "" {
		return addr
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redistest: this test needs Redis: install redis-server (apt-get install redis-server) or set %s to host:port of a server it may use", EnvAddr)
	}
	return Start(t).Addr()
}

// Prefix returns a key prefix unique to this test run, made from the test's
// name and a random suffix, without characters that Redis hash tags or the
// store's key rules treat specially.
func Prefix(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '/' {
			return r
		}
		return '_'
	}, t.Name())
	return "kgtest:" + name + ":" + hex.EncodeToString(b[:]) + ":"
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Stop stops the server (SIGTERM, then SIGKILL after 5 seconds) and waits
// for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // a paused server acts on SIGTERM only when continued
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Kill ends the server at once with SIGKILL, as a crash would, and waits
// for it to exit. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Pause stops the server's process (SIGSTOP) without closing its
// connections, as a stalled or partitioned node looks; Resume continues
// it. The test's end resumes a paused server before stopping it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(sig)
	}
}

// Restart stops the server and starts it again on the same port, empty, and
// waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	for range 20 { // the port may take a moment to be free again
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restarting redis-server on %s: %v", s.Addr(), err)
}

// start runs redis-server on s.port and waits until it is ready.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(args,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir)
	args = append(args, s.args...)
	if f := s.tls; f != nil {
		auth := "optional"
		if f.RequireClientCert {
			auth = "yes"
		}
		args = append(args, "--tls-port", strconv.Itoa(s.tlsPort),
			"--tls-cert-file", f.CertFile, "--tls-key-file", f.KeyFile,
			"--tls-ca-cert-file", f.CAFile, "--tls-auth-clients", auth)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = procAttr()
	out := &testkit.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(readyTimeout)
	for {
		// The answer must come from this process: while a server is
		// stopped, another test may have been given its port.
		if pid, err := serverPID(s.Addr()); err == nil && pid == cmd.Process.Pid {
			s.cmd, s.done, s.out = cmd, done, out
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server exited: %s", lastLines(out.String(), 5))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("no answer to PING within %s: %s", readyTimeout, lastLines(out.String(), 5))
		}
	}
}

// serverPID asks the server at addr for its process id (INFO server), which
// also proves that it answers commands.
func serverPID(addr string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("INFO server\r\n")); err != nil {
		return 0, err
	}
	rd := bufio.NewReader(c)
	head, err := rd.ReadString('\n')
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	if !strings.HasPrefix(head, "$") || err != nil {
		return 0, fmt.Errorf("INFO answered %q", strings.TrimSpace(head))
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rd, body); err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("INFO without process_id")
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// addrs are the servers' addresses, in order.
func addrs(servers []*Server) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.Addr()
	}
	return out
}
