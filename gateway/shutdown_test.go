package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/testkit"
)

// reloadMessages are the log lines of a reload, asked for or done.
var reloadMessages = map[string]bool{
	"config reloaded": true,
	"config reload refused; keeping the running config": true,
	"config file changed: reloading":                    true,
	"SIGHUP: reloading config":                          true,
}

// TestReloadDuringShutdown: reloads keep coming while the gateway shuts
// down (rewrites of the watched file, values on Options.Reload standing
// for SIGHUP, and calls of ReloadFile), and none of them runs on what
// Serve closes: every reload has finished before Serve's closers run (no
// reload is logged after "keygate stopped"), a reload asked for after
// Serve returned is refused with ErrClosed, and the race detector sees
// nothing. Before the run group, the watcher and the SIGHUP loop were
// not joined and ReloadFile applied configs to a closed gateway.
func TestReloadDuringShutdown(t *testing.T) {
	for round := range 4 { // shutdown catches the reloads at different points
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			dir := t.TempDir()
			y := func(i int) string {
				return fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
store: {embedded: {path: %q}}
log: {level: %s}
upstream: {dial_timeout: %dms}
self_service: {enabled: true}
account: {enabled: true}
trusted_proxies: [10.0.0.%d]
routes:
  - {name: r, path_prefix: /r%d, upstream: "http://127.0.0.1:1", auth: none}
`, filepath.Join(dir, "k.db"), []string{"info", "warn"}[i%2], 100+i%7, i%250, i)
			}
			cfg, path := loadFile(t, y(0))
			hup := make(chan os.Signal, 1)
			log, logs := observed()
			g := listening(t, cfg, Options{Logger: log, ConfigFile: path, Reload: hup})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- g.Serve(ctx) }()

			var (
				stopLoad     = make(chan struct{})
				wg           sync.WaitGroup
				served       atomic.Bool  // Serve has returned
				appliedAfter atomic.Int64 // reloads applied after that
				otherErr     atomic.Value // an error other than ErrClosed after that
			)
			wg.Go(func() { // the file changes, and SIGHUP
				for i := 1; ; i++ {
					select {
					case <-stopLoad:
						return
					default:
					}
					_ = os.WriteFile(path, []byte(y(i)), 0o644)
					select {
					case hup <- syscall.SIGHUP:
					default:
					}
					pause := time.Millisecond
					if i%20 == 0 {
						pause = watchDebounce + 50*time.Millisecond // lets the watcher's debounce settle
					}
					time.Sleep(pause)
				}
			})
			wg.Go(func() { // the entry point
				for {
					select {
					case <-stopLoad:
						return
					default:
					}
					after := served.Load()
					err := g.ReloadFile(path)
					switch {
					case !after:
					case err == nil:
						appliedAfter.Add(1)
					case !errors.Is(err, ErrClosed):
						otherErr.Store(err)
					}
				}
			})

			testkit.Eventually(t, 10*time.Second, "reloads by the watcher, the signal and the entry point", func() bool {
				return logs.FilterMessage("config reloaded").Len() >= 3 &&
					logs.FilterMessage("config file changed: reloading").Len() > 0 &&
					logs.FilterMessage("SIGHUP: reloading config").Len() > 0
			})
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			served.Store(true)
			time.Sleep(100 * time.Millisecond) // the reloads go on
			close(stopLoad)
			wg.Wait()

			if n := appliedAfter.Load(); n > 0 {
				t.Errorf("%d reloads applied after Serve returned, to a closed gateway", n)
			}
			if err, _ := otherErr.Load().(error); err != nil {
				t.Errorf("ReloadFile after Serve returned: %v, want ErrClosed", err)
			}
			if err := g.ReloadFile(path); !errors.Is(err, ErrClosed) {
				t.Errorf("ReloadFile after Serve returned: %v, want ErrClosed", err)
			}
			stopped := false
			for _, e := range logs.All() {
				switch {
				case e.Message == "keygate stopped":
					stopped = true
				case stopped && reloadMessages[e.Message]:
					t.Errorf("logged after keygate stopped: %s %v", e.Message, e.ContextMap())
				}
			}
			if !stopped {
				t.Error(`no "keygate stopped" line`)
			}
		})
	}
}
