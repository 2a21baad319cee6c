package redistest

import (
	"os/exec"
	"strings"
	"testing"
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
