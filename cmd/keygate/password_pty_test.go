//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/testkit"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair with the Linux ioctls (no
// dependency beyond golang.org/x/sys).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return master, slave
}

// TestUsersPasswordTerminal types a password into `keygate users password`
// on a real pseudo-terminal: keygate turns the terminal's echo off before
// it reads, so the password never appears on the screen.
func TestUsersPasswordTerminal(t *testing.T) {
	_, path := servedConfig(t, "http://127.0.0.1:1", ordersRoute, "")
	mustKeygate(t, "users", "add", "root", "-config", path)
	const password = "correct horse battery staple"

	master, slave := openPTY(t)
	var stdout bytes.Buffer
	cmd := exec.Command(binary, "users", "password", "root", "-config", path)
	cmd.Stdin, cmd.Stderr, cmd.Stdout = slave, slave, &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var (
		mu     sync.Mutex
		screen bytes.Buffer // what the terminal shows
		done   = make(chan struct{})
	)
	go func() {
		defer close(done)
		b := make([]byte, 1024)
		for {
			n, err := master.Read(b)
			mu.Lock()
			screen.Write(b[:n])
			mu.Unlock()
			if err != nil {
				return // EIO once keygate has closed the terminal
			}
		}
	}()
	shown := func() string { mu.Lock(); defer mu.Unlock(); return screen.String() }

	// Type only once the prompt is up and echo is off; a terminal echoes
	// what is typed as it arrives.
	prompted := false
	defer func() {
		if !prompted {
			_ = cmd.Process.Kill()
			t.Logf("the terminal shows %q", shown())
		}
	}()
	testkit.Eventually(t, 20*time.Second, "a prompt with echo off", func() bool {
		echo := true
		if tio, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS); err == nil {
			echo = tio.Lflag&unix.ECHO != 0
		}
		return strings.Contains(shown(), "(it is not shown)") && !echo
	})
	prompted = true
	if _, err := master.Write([]byte(password + "\n")); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("keygate users password: %v; the terminal shows %q", err, shown())
	}
	<-done
	if got := shown(); strings.Contains(got, password) {
		t.Errorf("the terminal shows the password: %q", got)
	}
	if got, want := stdout.String(), "password of root set\n"; got != want {
		t.Errorf("stdout %q; want %q", got, want)
	}
}
