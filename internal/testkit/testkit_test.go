package testkit

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB whose Fatalf records instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestEventually(t *testing.T) {
	t.Run("true at once", func(t *testing.T) {
		r := &recorder{TB: t}
		calls := 0
		Eventually(r, time.Second, "ready", func() bool { calls++; return true })
		if r.failed != "" || calls != 1 {
			t.Errorf("failed %q after %d calls, want no failure after 1", r.failed, calls)
		}
	})
	t.Run("true later", func(t *testing.T) {
		r := &recorder{TB: t}
		var n atomic.Int32
		Eventually(r, 5*time.Second, "third time", func() bool { return n.Add(1) == 3 })
		if r.failed != "" || n.Load() != 3 {
			t.Errorf("failed %q after %d calls, want no failure after 3", r.failed, n.Load())
		}
	})
	t.Run("never", func(t *testing.T) {
		r := &recorder{TB: t}
		start := time.Now()
		Eventually(r, 50*time.Millisecond, "the moon", func() bool { return false })
		if !strings.Contains(r.failed, "the moon: not within 50ms") {
			t.Errorf("failure %q, want it to name what and the timeout", r.failed)
		}
		if waited := time.Since(start); waited < 50*time.Millisecond {
			t.Errorf("gave up after %v, before the timeout", waited)
		}
	})
}
