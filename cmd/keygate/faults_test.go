package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/echo"
	"github.com/keygate/keygate/internal/testkit"
)

// The fault suite's tests in this package (TestFault…) run keygate as a
// process and send it real signals; see gateway/faults_test.go for the
// rest of the suite and testkit.Long for the long versions.

// count is the number of log lines with msg so far.
func (p *process) count(msg string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, e := range p.logs {
		if e["msg"] == msg {
			n++
		}
	}
	return n
}

// TestFaultReloadsAndSIGTERM sends a `keygate serve` process SIGHUP after
// SIGHUP (the config file changed each time) under a steady load, then
// SIGTERM while the load still runs. No request may be lost: every request
// answered before SIGTERM got 200, every answer after it is a whole 200
// (a request may be refused a connection once keygate stopped accepting,
// never cut off or answered with an error), and keygate exits 0. Figures:
// the requests through the reloads, and the time from SIGTERM to the exit.
func TestFaultReloadsAndSIGTERM(t *testing.T) {
	up := httptest.NewServer(echo.Handler{})
	defer up.Close()
	routes := []string{
		"  - {name: a, path_prefix: /a, upstream: UP, auth: none}\n",
		"  - {name: a, path_prefix: /a, upstream: UP, auth: none}\n  - {name: b, path_prefix: /b, upstream: UP, auth: none}\n",
	}
	dir, path := servedConfig(t, up.URL, routes[0], "")
	p := startServe(t, path)
	url := "http://" + p.addr + "/a/x"

	var termed atomic.Bool
	var before, after, cut, wrong atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				sentBefore := !termed.Load()
				resp, err := client.Get(url)
				if err != nil { // allowed once keygate stopped accepting
					if sentBefore && !termed.Load() {
						t.Errorf("a request before SIGTERM got no answer: %v", err)
					}
					time.Sleep(5 * time.Millisecond)
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case err != nil:
					cut.Add(1)
				case resp.StatusCode != 200:
					wrong.Add(1)
				case termed.Load():
					after.Add(1)
				default:
					before.Add(1)
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}

	reloads := testkit.Count(10, 40)
	started := time.Now()
	for i := range reloads {
		writeFile(t, path, serveConfig(dir, up.URL, routes[(i+1)%2]))
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 10*time.Second, fmt.Sprintf("reload %d logged", i+1), func() bool { return p.count("config reloaded") >= i+1 })
		time.Sleep(testkit.Span(50*time.Millisecond, time.Second))
	}
	reloading := time.Since(started)
	throughReloads := before.Load()

	termed.Store(true)
	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var exitErr error
	select {
	case exitErr = <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("keygate did not exit after SIGTERM")
	}
	exited := time.Since(signalled)
	close(stop)
	wg.Wait()

	testkit.Figure(t, "through reloads", "%d requests, %d reloads in %s, every one 200", throughReloads, reloads, reloading.Round(100*time.Millisecond))
	testkit.Figure(t, "SIGTERM under load", "exit %v after %s; %d answered 200 after the signal, %d cut off", exitCode(exitErr), exited.Round(time.Millisecond), after.Load(), cut.Load())
	if exitErr != nil {
		t.Errorf("keygate exited with %v after SIGTERM, want 0", exitErr)
	}
	if throughReloads == 0 {
		t.Error("no request answered during the reloads: the test proves nothing")
	}
	if n := cut.Load(); n > 0 {
		t.Errorf("%d answers cut off", n)
	}
	if n := wrong.Load(); n > 0 {
		t.Errorf("%d answers other than 200", n)
	}
}

// TestFaultKillEmbeddedWriter kills a `keygate serve` process on the
// embedded store with SIGKILL while clients create users through the
// admin API, starts it again on the same file, and repeats: every user
// whose creation was acknowledged (201) before a kill must be there after
// it. Figure: the users acknowledged and the kills.
func TestFaultKillEmbeddedWriter(t *testing.T) {
	t.Setenv("KEYGATE_ADMIN_TOKEN", "fault-suite-bootstrap-admin-token-0123456789")
	auth := "Bearer fault-suite-bootstrap-admin-token-0123456789"
	up := httptest.NewServer(echo.Handler{})
	defer up.Close()
	_, path := servedConfig(t, up.URL, "  - {name: a, path_prefix: /a, upstream: UP, auth: none}\n", "")
	kills := testkit.Count(2, 6)
	var acked []string
	client := &http.Client{Timeout: 10 * time.Second}
	for round := range kills {
		p := startServe(t, path)
		admin := "http://" + p.adminAddr
		for _, name := range acked {
			req, _ := http.NewRequest("GET", admin+"/admin/users/"+name, nil)
			req.Header.Set("Authorization", auth)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("GET user %s after kill %d: %v", name, round, err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("user %s, acknowledged before kill %d: %d after it, want 200", name, round, resp.StatusCode)
			}
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					name := fmt.Sprintf("u%d-%d-%d", round, w, i)
					req, _ := http.NewRequest("POST", admin+"/admin/users", strings.NewReader(`{"name": "`+name+`"}`))
					req.Header.Set("Authorization", auth)
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						return // killed
					}
					resp.Body.Close()
					if resp.StatusCode == 201 {
						mu.Lock()
						acked = append(acked, name)
						mu.Unlock()
					}
				}
			})
		}
		time.Sleep(testkit.Span(500*time.Millisecond, 3*time.Second))
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-p.exited
		close(stop)
		wg.Wait()
	}
	p := startServe(t, path)
	missing := 0
	for _, name := range acked {
		req, _ := http.NewRequest("GET", "http://"+p.adminAddr+"/admin/users/"+name, nil)
		req.Header.Set("Authorization", auth)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			missing++
		}
	}
	testkit.Figure(t, "acknowledged writes", "%d users through %d SIGKILLs, %d lost", len(acked), kills, missing)
	if len(acked) == 0 {
		t.Error("no write acknowledged: the test proves nothing")
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged users lost to SIGKILL", missing, len(acked))
	}
}

// exitCode is the exit code in a process's Wait error (0 for nil).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
