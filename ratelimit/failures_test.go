package ratelimit

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestFailureGuard: an address is blocked once its failures exceed the
// burst, until its bucket refills, and only that address; a block after
// every earlier one has run out (the guard's no-look-up state) blocks
// again, and a later block of another address keeps the first one's.
func TestFailureGuard(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	g, err := NewFailureGuard(Limit{Rate: 1, Per: 10 * time.Second, Burst: 2})
	if err != nil {
		t.Fatal(err)
	}
	g.now, g.epoch = clock.now, clock.now()
	g.buckets.now = clock.now
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")

	blocked := func(k netip.Addr) bool { _, ok := g.Blocked(k); return ok }
	if blocked(a) || blocked(b) {
		t.Fatal("blocked before any failure")
	}
	g.Failed(a)
	g.Failed(a)
	if blocked(a) {
		t.Fatal("blocked within the burst")
	}
	g.Failed(a) // over the burst
	wait, ok := g.Blocked(a)
	if !ok || wait <= 0 || wait > 10*time.Second {
		t.Fatalf("Blocked(a) after 3 failures = %v, %v; want blocked for up to 10s", wait, ok)
	}
	if blocked(b) {
		t.Fatal("another address is blocked too")
	}

	clock.add(wait)
	if blocked(a) {
		t.Fatal("still blocked once the wait has passed")
	}
	if g.latest.Load() != 0 {
		t.Fatal("the guard did not go back to its no-look-up state")
	}

	// From the no-look-up state, a new block takes effect at once.
	g.Failed(a)
	g.Failed(a)
	if !blocked(a) {
		t.Fatal("not blocked again after more failures")
	}
	// A second address blocked later: each stays blocked for its own time.
	clock.add(3 * time.Second)
	for range 3 {
		g.Failed(b)
	}
	if !blocked(a) || !blocked(b) {
		t.Fatalf("blocked(a) = %v, blocked(b) = %v; want both", blocked(a), blocked(b))
	}
	wa, _ := g.Blocked(a)
	clock.add(wa)
	if blocked(a) || !blocked(b) {
		t.Fatalf("after a's wait: blocked(a) = %v, blocked(b) = %v; want only b", blocked(a), blocked(b))
	}
}

func TestFailureGuardBlockedAllocatesNothing(t *testing.T) {
	g, err := NewFailureGuard(Limit{Rate: 1, Per: time.Minute, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	if n := testing.AllocsPerRun(100, func() { g.Blocked(a) }); n != 0 {
		t.Errorf("Blocked with nothing blocked allocated %v times, want 0", n)
	}
	g.Failed(b)
	g.Failed(b)
	if n := testing.AllocsPerRun(100, func() { g.Blocked(a) }); n != 0 {
		t.Errorf("Blocked with another address blocked allocated %v times, want 0", n)
	}
}
