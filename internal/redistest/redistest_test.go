package redistest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/testkit"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	first, err := serverPID(s.Addr())
	if err != nil {
		t.Fatalf("server at %s does not answer: %v", s.Addr(), err)
	}
	s.Restart()
	second, err := serverPID(s.Addr())
	if err != nil {
		t.Fatalf("restarted server at %s does not answer: %v", s.Addr(), err)
	}
	if first == second {
		t.Errorf("Restart: same process %d answers, want a new one", first)
	}
	s.Stop()
	if _, err := serverPID(s.Addr()); err == nil {
		t.Errorf("stopped server at %s still answers", s.Addr())
	}
	s.Stop() // twice is harmless
}

func TestAddr(t *testing.T) {
	t.Setenv(EnvAddr, "127.0.0.1:1")
	if got := Addr(t); got != "127.0.0.1:1" {
		t.Errorf("Addr with %s set: got %q, want 127.0.0.1:1", EnvAddr, got)
	}
	t.Setenv(EnvAddr, "")
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not in PATH (apt-get install redis-server): %v", err)
	}
	if _, err := serverPID(Addr(t)); err != nil {
		t.Errorf("Addr without %s: private server does not answer: %v", EnvAddr, err)
	}
}

func TestPrefix(t *testing.T) {
	a, b := Prefix(t), Prefix(t)
	if a == b {
		t.Errorf("Prefix twice: both %q, want distinct", a)
	}
	if !strings.HasPrefix(a, "kgtest:TestPrefix:") || strings.ContainsAny(a, "{} ") {
		t.Errorf("Prefix: got %q, want kgtest:TestPrefix:<random>: without braces or spaces", a)
	}
}

func TestCluster(t *testing.T) {
	c := StartCluster(t, 3)
	ctx := t.Context()
	slots, err := call(ctx, c.Nodes[1].Addr(), "CLUSTER", "COUNTKEYSINSLOT", 0)
	if err != nil || slots != "0" {
		t.Fatalf("CLUSTER COUNTKEYSINSLOT on a node: (%q, %v)", slots, err)
	}
	// Slot 0 is the first node's: the others redirect.
	if _, err := call(ctx, c.Nodes[1].Addr(), "SET", "{06S}", "v"); err == nil || !strings.HasPrefix(err.Error(), "MOVED 0 ") {
		t.Errorf("SET of a slot-0 key on node 2: got %v, want MOVED 0", err)
	}
	c.Restart()
	if _, err := call(ctx, c.Nodes[0].Addr(), "SET", "{06S}", "v"); err != nil {
		t.Errorf("SET on node 1 after Restart: %v", err)
	}
}

func TestSentinelFailover(t *testing.T) {
	s := StartSentinel(t)
	ctx := t.Context()
	for i, m := range s.ReportedMasters(ctx) {
		if m != s.Master.Addr() {
			t.Fatalf("sentinel %d reports master %q, want %s", i, m, s.Master.Addr())
		}
	}
	s.Master.Kill()
	s.WaitFailover(t, 20*time.Second)
	if _, err := call(ctx, s.Replica.Addr(), "SET", "k", "v"); err != nil {
		t.Errorf("SET on the promoted replica: %v", err)
	}
}

// TestNoOrphans runs this test binary again as a child that starts a
// server and exits without its cleanups: the server must die with it.
func TestNoOrphans(t *testing.T) {
	if os.Getenv("REDISTEST_ORPHAN_CHILD") == "1" {
		s := Start(t)
		fmt.Println("addr", s.Addr())
		os.Exit(0)
	}
	if runtime.GOOS != "linux" {
		t.Skip("servers die with the test process on Linux only (Pdeathsig)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoOrphans$")
	// The child's directories are left behind, in one of ours.
	cmd.Env = append(os.Environ(), "REDISTEST_ORPHAN_CHILD=1", "TMPDIR="+t.TempDir())
	out, err := cmd.Output()
	addr, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "addr ")
	if err != nil || !ok {
		t.Fatalf("child: %v, output %q", err, out)
	}
	testkit.Eventually(t, 5*time.Second, fmt.Sprintf("server at %s gone after its test process exited", addr), func() bool {
		_, err := serverPID(addr)
		return err != nil
	})
}
