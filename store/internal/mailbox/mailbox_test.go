package mailbox

import (
	"strings"
	"sync"
	"testing"

	"github.com/keygate/keygate/store"
)

func msg(p string) store.Message { return store.Message{Channel: "c", Payload: []byte(p)} }

func TestSendInOrder(t *testing.T) {
	b := New(4)
	for _, p := range []string{"a", "b", "c"} {
		if !b.Send(msg(p)) {
			t.Fatalf("Send(%q) = false, want true", p)
		}
	}
	b.Close()
	var got []string
	for m := range b.C() {
		got = append(got, string(m.Payload))
	}
	if want := "a b c"; strings.Join(got, " ") != want {
		t.Errorf("received %q, want %q", strings.Join(got, " "), want)
	}
}

func TestSendFullQueuesResync(t *testing.T) {
	b := New(2)
	b.Send(msg("a"))
	b.Send(msg("b"))
	if b.Send(msg("c")) {
		t.Fatalf("Send on a full box = true, want false")
	}
	b.Send(msg("d")) // full again: b is dropped for a second Resync
	b.Close()
	var got []string
	for m := range b.C() {
		if m.Resync {
			got = append(got, "RESYNC")
			continue
		}
		got = append(got, string(m.Payload))
	}
	if want := "RESYNC RESYNC"; strings.Join(got, " ") != want {
		t.Errorf("received %q, want %q", strings.Join(got, " "), want)
	}
}

func TestCloseTwiceAndSendAfterClose(t *testing.T) {
	b := New(0)
	if got := cap(b.ch); got != DefaultSize {
		t.Errorf("New(0) capacity = %d, want %d", got, DefaultSize)
	}
	b.Close()
	b.Close()
	if b.Send(msg("x")) {
		t.Errorf("Send after Close = true, want false")
	}
	if _, ok := <-b.C(); ok {
		t.Errorf("receive after Close: channel open, want closed")
	}
}

func TestConcurrentSendersNeverBlock(t *testing.T) {
	b := New(8)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 100 {
				b.Send(msg("x"))
			}
		})
	}
	wg.Wait() // nobody reads: every sender must still return
	b.Close()
	n, resync := 0, false
	for m := range b.C() {
		n++
		resync = resync || m.Resync
	}
	if n != 8 || !resync {
		t.Errorf("queued %d messages (resync %v), want 8 with a Resync", n, resync)
	}
}

// TestSendFullKeepsDown: a Down message sent to a full box is queued (in
// place of a Resync), so a slow subscriber still learns that the
// subscription is lost.
func TestSendFullKeepsDown(t *testing.T) {
	b := New(2)
	b.Send(msg("a"))
	b.Send(msg("b"))
	b.Send(store.Message{Channel: "c", Down: true})
	b.Close()
	var got []string
	for m := range b.C() {
		switch {
		case m.Down:
			got = append(got, "DOWN")
		case m.Resync:
			got = append(got, "RESYNC")
		default:
			got = append(got, string(m.Payload))
		}
	}
	if want := "b DOWN"; strings.Join(got, " ") != want {
		t.Errorf("received %q, want %q", strings.Join(got, " "), want)
	}
}
