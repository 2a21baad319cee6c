package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/store"
)

// calls returns one call of every Store method taking a context, on key.
func calls(s store.Store, ctx context.Context, key string) map[string]func() error {
	opts := store.WriteOptions{Indexes: []string{"idx"}}
	return map[string]func() error{
		"Get":          func() error { _, err := s.Get(ctx, key); return err },
		"Create":       func() error { _, err := s.Create(ctx, key+"/new", []byte("v"), opts); return err },
		"Put":          func() error { _, err := s.Put(ctx, key, []byte("v"), opts); return err },
		"Update":       func() error { _, err := s.Update(ctx, key, []byte("v"), 1, opts); return err },
		"Delete":       func() error { return s.Delete(ctx, key, 0) },
		"List":         func() error { _, err := s.List(ctx, "idx"); return err },
		"Incr":         func() error { _, err := s.Incr(ctx, key, 1, 0); return err },
		"Counter":      func() error { _, err := s.Counter(ctx, key); return err },
		"ResetCounter": func() error { return s.ResetCounter(ctx, key) },
		"Strike":       func() error { _, _, err := s.Strike(ctx, key, 1); return err },
		"Strikes":      func() error { _, err := s.Strikes(ctx, key); return err },
		"ResetStrikes": func() error { return s.ResetStrikes(ctx, key) },
		"ClearStrikes": func() error { return s.ClearStrikes(ctx, key) },
		"Publish":      func() error { return s.Publish(ctx, key, []byte("v")) },
		"Subscribe":    func() error { _, err := s.Subscribe(ctx, key); return err },
		"Ping":         func() error { return s.Ping(ctx) },
	}
}

func testCanceled(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	if _, err := s.Put(ctx, "kept", []byte("v1"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Strike(ctx, "kept", 5); err != nil {
		t.Fatal(err)
	}
	for name, call := range calls(s, canceled(), "kept") {
		wantErr(t, name+" with a cancelled context", call(), context.Canceled)
	}
	// Nothing happened.
	if r := mustGet(t, s, "kept"); string(r.Value) != "v1" || r.Version != 1 {
		t.Fatalf("Get after cancelled writes: got %q version %d, want v1 version 1", r.Value, r.Version)
	}
	if _, err := s.Get(ctx, "kept/new"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after cancelled Create: got %v, want ErrNotFound", err)
	}
	if n, err := s.Counter(ctx, "kept"); err != nil || n != 0 {
		t.Fatalf("Counter after cancelled Incr: got (%d, %v), want (0, nil)", n, err)
	}
	if st, err := s.Strikes(ctx, "kept"); err != nil || st.Count != 1 {
		t.Fatalf("Strikes after cancelled calls: got (%+v, %v), want count 1", st, err)
	}
	if rs, err := s.List(ctx, "idx"); err != nil || len(rs) != 0 {
		t.Fatalf("List after cancelled writes: got %d records (%v), want none", len(rs), err)
	}
}

func testPing(t *testing.T, h Harness) {
	s := open(t, h)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testClose(t *testing.T, h Harness) {
	s := h.New(t)
	sub := subscribe(t, t.Context(), s, "c")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitClosed(t, sub, "subscription", "Close")
	for name, call := range calls(s, t.Context(), "k") {
		wantErr(t, name+" after Close", call(), store.ErrUnavailable)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func testReopen(t *testing.T, h Harness) {
	if h.Reopen == nil {
		t.Skip("the harness has no Reopen")
	}
	s := h.New(t)
	ctx := t.Context()
	idx := store.WriteOptions{Indexes: []string{"idx"}}
	if _, err := s.Put(ctx, "a", []byte("A"), idx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "a", []byte("A2"), store.WriteOptions{TTL: time.Hour, Indexes: idx.Indexes}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "b", []byte("B"), idx); err != nil {
		t.Fatal(err)
	}
	before := mustGet(t, s, "a")
	if _, err := s.Incr(ctx, "c", 5, 0); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, _, err := s.Strike(ctx, "void", 2); err != nil {
			t.Fatal(err)
		}
	}
	s = h.Reopen(t, s)
	t.Cleanup(func() { _ = s.Close() })

	after := mustGet(t, s, "a")
	if string(after.Value) != "A2" || after.Version != 2 || !after.ExpiresAt.Equal(before.ExpiresAt) {
		t.Fatalf("Get after reopen: got %+v, want %+v", after, before)
	}
	if rs, err := s.List(ctx, "idx"); err != nil || len(rs) != 2 {
		t.Fatalf("List after reopen: got %d records (%v), want 2", len(rs), err)
	}
	if st, err := s.Strikes(ctx, "void"); err != nil || st != (store.Strikes{Count: 2, Tripped: true}) {
		t.Fatalf("Strikes after reopen: got (%+v, %v), want count 2 tripped", st, err)
	}
	want := int64(0)
	if h.CountersSurviveReopen {
		want = 5
	}
	if n, err := s.Counter(ctx, "c"); err != nil || n != want {
		t.Fatalf("Counter after reopen: got (%d, %v), want %d", n, err, want)
	}
}

func testRestart(t *testing.T, h Harness) {
	if h.Restartable == nil {
		t.Skip("the harness has no restartable backend")
	}
	s, restart := h.Restartable(t)
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	sub := subscribe(t, ctx, s, "events")
	if _, err := s.Put(ctx, "before", []byte("v"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	restart()

	// The same Store works again once the server is back.
	testkit.Eventually(t, 10*time.Second, "Put succeeds after the restart", func() bool {
		_, err := s.Put(ctx, "after", []byte("v"), store.WriteOptions{Indexes: []string{"idx"}})
		return err == nil
	})
	if r := mustGet(t, s, "after"); string(r.Value) != "v" {
		t.Fatalf("Get after restart: got %q, want v", r.Value)
	}
	if _, err := s.Incr(ctx, "n", 1, 0); err != nil {
		t.Fatalf("Incr after restart: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}

	// The subscription learns that it may have missed messages...
	for resync := false; !resync; {
		m, ok := receive(t, sub, 10*time.Second)
		if !ok {
			t.Fatalf("subscription closed by the restart")
		}
		resync = m.Resync
	}
	// ...and receives new ones.
	testkit.Eventually(t, 10*time.Second, "a message received after the Resync", func() bool {
		if err := s.Publish(ctx, "events", []byte("after restart")); err != nil {
			t.Fatalf("Publish after restart: %v", err)
		}
		select {
		case m, ok := <-sub:
			if !ok {
				t.Fatalf("subscription closed after the Resync")
			}
			return string(m.Payload) == "after restart"
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
}
