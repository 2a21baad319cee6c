package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keygate/keygate/store"
)

func testPubSub(t *testing.T, h Harness) {
	s := open(t, h)
	r := replica(t, h, s)
	ctx := t.Context()
	a := subscribe(t, ctx, s, "events")
	b := subscribe(t, ctx, r, "events")
	payload := []byte("one")
	if err := s.Publish(ctx, "events", payload); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	payload[0] = 'X' // subscribers got their own copy
	if err := r.Publish(ctx, "events", []byte("two")); err != nil {
		t.Fatalf("Publish on the replica: %v", err)
	}
	if err := s.Publish(ctx, "events", nil); err != nil {
		t.Fatalf("Publish empty: %v", err)
	}
	for name, ch := range map[string]<-chan store.Message{"first": a, "second": b} {
		for _, want := range []string{"one", "two", ""} {
			m, ok := receive(t, ch, 5*time.Second)
			if !ok || m.Channel != "events" || string(m.Payload) != want || m.Resync {
				t.Fatalf("%s subscriber: got %+v (open %v), want %q on events", name, m, ok, want)
			}
		}
	}
}

func testPubSubSeparateChannels(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	x := subscribe(t, ctx, s, "x")
	for _, ch := range []string{"y", "x/y", "x"} {
		if err := s.Publish(ctx, ch, []byte("on "+ch)); err != nil {
			t.Fatal(err)
		}
	}
	if m, _ := receive(t, x, 5*time.Second); string(m.Payload) != "on x" {
		t.Fatalf("subscriber of x: got %q, want %q", m.Payload, "on x")
	}
}

func testUnsubscribe(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	subCtx, cancel := context.WithCancel(ctx)
	gone := subscribe(t, subCtx, s, "c")
	stays := subscribe(t, ctx, s, "c")
	cancel()
	waitClosed(t, gone, "channel", "its context was cancelled")
	if err := s.Publish(ctx, "c", []byte("after")); err != nil {
		t.Fatalf("Publish after an unsubscribe: %v", err)
	}
	if m, _ := receive(t, stays, 5*time.Second); string(m.Payload) != "after" {
		t.Fatalf("remaining subscriber: got %+v, want %q", m, "after")
	}
}

func testSlowSubscriber(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	slow := subscribe(t, ctx, s, "busy")
	const n = 600
	start := time.Now()
	for i := range n {
		if err := s.Publish(ctx, "busy", fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("%d publishes to a subscriber that does not read took %s", n, took)
	}
	// The subscriber missed messages: it must learn so from a Resync among
	// what it reads until nothing more comes.
	resync := false
	for quiet := false; !quiet; {
		select {
		case m, ok := <-slow:
			if !ok {
				t.Fatalf("channel closed while reading the backlog")
			}
			resync = resync || m.Resync
		case <-time.After(300 * time.Millisecond):
			quiet = true
		}
	}
	if !resync {
		t.Fatalf("a subscriber that missed messages got no Resync")
	}
	// And it is still subscribed.
	if err := s.Publish(ctx, "busy", []byte("after")); err != nil {
		t.Fatal(err)
	}
	if m, ok := receive(t, slow, 5*time.Second); !ok || string(m.Payload) != "after" || m.Resync {
		t.Fatalf("after the backlog: got %+v (open %v), want %q", m, ok, "after")
	}
}
