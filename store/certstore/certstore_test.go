package certstore

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/embedded"
	redisstore "github.com/keygate/keygate/store/redis"
)

// backends opens a fresh store of each kind for a test.
var backends = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"embedded", func(t *testing.T) store.Store {
		s, err := embedded.Open(context.Background(), config.Embedded{Path: filepath.Join(t.TempDir(), "k.db")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"redis", func(t *testing.T) store.Store {
		s, err := redisstore.New(context.Background(), config.Redis{Addrs: []string{redistest.Addr(t)}, KeyPrefix: redistest.Prefix(t)}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

// forEachBackend runs test as a subtest on a fresh store of each backend.
func forEachBackend(t *testing.T, test func(t *testing.T, st store.Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b.open(t)) })
	}
}

// TestStorageSemantics runs the same sequence against CertMagic's own
// FileStorage and against Storage on both stores, and wants the same
// answers from all three.
func TestStorageSemantics(t *testing.T) {
	impls := []struct {
		name string
		open func(t *testing.T) certmagic.Storage
	}{
		{"certmagic.FileStorage", func(t *testing.T) certmagic.Storage { return &certmagic.FileStorage{Path: t.TempDir()} }},
	}
	for _, b := range backends {
		impls = append(impls, struct {
			name string
			open func(t *testing.T) certmagic.Storage
		}{b.name, func(t *testing.T) certmagic.Storage { return New(b.open(t), Options{}) }})
	}
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			storageSemantics(t, impl.open(t))
		})
	}
}

func storageSemantics(t *testing.T, s certmagic.Storage) {
	ctx := context.Background()
	if _, err := s.Load(ctx, "certificates/none.crt"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing key: %v, want fs.ErrNotExist", err)
	}
	if _, err := s.Stat(ctx, "certificates"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a missing key: %v, want fs.ErrNotExist", err)
	}
	if _, err := s.List(ctx, "certificates", false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List of a missing directory: %v, want fs.ErrNotExist", err)
	}
	if s.Exists(ctx, "certificates") {
		t.Error("Exists of a missing key is true")
	}
	if err := s.Delete(ctx, "certificates/none"); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}

	big := bytes.Repeat([]byte("0123456789abcdef"), 32<<10) // 512 KiB
	files := map[string][]byte{
		"certificates/ca/a.example/a.example.crt":  []byte("crt"),
		"certificates/ca/a.example/a.example.key":  []byte("key"),
		"certificates/ca/a.example/a.example.json": []byte("{}"),
		"certificates/ca/b.example/b.example.crt":  big,
		"acme/ca/users/x+y@example.com/k {1}%.key": []byte("odd"),
		"last_clean.json":                          []byte("t"),
	}
	before := time.Now().Add(-time.Second)
	for k, v := range files {
		if err := s.Store(ctx, k, v); err != nil {
			t.Fatalf("Store %s: %v", k, err)
		}
	}
	if err := s.Store(ctx, "certificates/ca/a.example/a.example.key", []byte("key2")); err != nil {
		t.Fatal(err)
	}
	files["certificates/ca/a.example/a.example.key"] = []byte("key2")
	for k, v := range files {
		got, err := s.Load(ctx, k)
		if err != nil || !bytes.Equal(got, v) {
			t.Errorf("Load %s: %d bytes, %v; want %d bytes", k, len(got), err, len(v))
		}
	}

	fi, err := s.Stat(ctx, "certificates/ca/a.example/a.example.key")
	if err != nil || !fi.IsTerminal || fi.Size != 4 || fi.Modified.Before(before) || fi.Key != "certificates/ca/a.example/a.example.key" {
		t.Errorf("Stat of a file: %+v, %v", fi, err)
	}
	fi, err = s.Stat(ctx, "certificates/ca")
	if err != nil || fi.IsTerminal || fi.Key != "certificates/ca" {
		t.Errorf("Stat of a directory: %+v, %v", fi, err)
	}
	if !s.Exists(ctx, "certificates/ca/a.example") || !s.Exists(ctx, "last_clean.json") {
		t.Error("Exists of a directory or file is false")
	}

	lists := []struct {
		prefix    string
		recursive bool
		want      []string
	}{
		{"certificates", false, []string{"certificates/ca"}},
		{"certificates/ca", false, []string{"certificates/ca/a.example", "certificates/ca/b.example"}},
		{"certificates/ca", true, []string{
			"certificates/ca/a.example",
			"certificates/ca/a.example/a.example.crt",
			"certificates/ca/a.example/a.example.json",
			"certificates/ca/a.example/a.example.key",
			"certificates/ca/b.example",
			"certificates/ca/b.example/b.example.crt",
		}},
		{"acme/ca/users", false, []string{"acme/ca/users/x+y@example.com"}},
		{"acme/ca/users/x+y@example.com", false, []string{"acme/ca/users/x+y@example.com/k {1}%.key"}},
	}
	for _, l := range lists {
		got, err := s.List(ctx, l.prefix, l.recursive)
		slices.Sort(got)
		if err != nil || !slices.Equal(got, l.want) {
			t.Errorf("List(%q, %v) = %q, %v\nwant %q", l.prefix, l.recursive, got, err, l.want)
		}
	}

	if err := s.Delete(ctx, "certificates/ca/a.example"); err != nil {
		t.Fatalf("Delete of a directory: %v", err)
	}
	if _, err := s.Load(ctx, "certificates/ca/a.example/a.example.crt"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load under a deleted directory: %v, want fs.ErrNotExist", err)
	}
	if s.Exists(ctx, "certificates/ca/a.example") {
		t.Error("a deleted directory still exists")
	}
	got, err := s.List(ctx, "certificates/ca", true)
	if want := []string{"certificates/ca/b.example", "certificates/ca/b.example/b.example.crt"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("List after Delete = %q, %v; want %q", got, err, want)
	}
	if err := s.Delete(ctx, "last_clean.json"); err != nil || s.Exists(ctx, "last_clean.json") {
		t.Errorf("Delete of a file: %v, exists %v", err, s.Exists(ctx, "last_clean.json"))
	}
}

// TestLocks has two Storages on one store, as two replicas on one Redis
// would be.
func TestLocks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		a := New(st, Options{PollInterval: 5 * time.Millisecond, LockTTL: 600 * time.Millisecond})
		c := New(st, Options{PollInterval: 5 * time.Millisecond, LockTTL: 600 * time.Millisecond})
		ctx := context.Background()

		if err := a.Lock(ctx, "issue_cert_a.example"); err != nil {
			t.Fatal(err)
		}
		if ok, err := c.TryLock(ctx, "issue_cert_a.example"); ok || err != nil {
			t.Fatalf("TryLock of a held lock = %v, %v; want false", ok, err)
		}
		if ok, err := c.TryLock(ctx, "issue_cert_b.example"); !ok || err != nil {
			t.Fatalf("TryLock of another name = %v, %v; want true", ok, err)
		}
		if err := c.Unlock(ctx, "issue_cert_b.example"); err != nil {
			t.Fatal(err)
		}

		// The holder renews its lock (the record is rewritten) while
		// it holds it, so it outlives LockTTL.
		testkit.Eventually(t, 10*time.Second, "the held lock renewed", func() bool {
			r, err := st.Get(ctx, lockKey("issue_cert_a.example"))
			if err != nil {
				t.Fatalf("lock record: %v", err)
			}
			return r.Version > 2
		})
		if ok, _ := c.TryLock(ctx, "issue_cert_a.example"); ok {
			t.Fatal("a renewed lock was taken by another holder")
		}

		// A waiter gets the lock once it is released.
		got := make(chan error, 1)
		go func() { got <- c.Lock(ctx, "issue_cert_a.example") }()
		select {
		case err := <-got:
			t.Fatalf("Lock returned (%v) while another held the lock", err)
		case <-time.After(50 * time.Millisecond):
		}
		if err := a.Unlock(ctx, "issue_cert_a.example"); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatalf("waiting Lock: %v", err)
		}
		if err := c.RenewLockLease(ctx, "issue_cert_a.example", time.Hour); err != nil {
			t.Fatal(err)
		}
		if r, _ := st.Get(ctx, lockKey("issue_cert_a.example")); time.Until(r.ExpiresAt) < 50*time.Minute {
			t.Errorf("after RenewLockLease(1h) the lock expires at %v", r.ExpiresAt)
		}
		if err := c.Unlock(ctx, "issue_cert_a.example"); err != nil {
			t.Fatal(err)
		}

		// Lock gives up when its context ends.
		if err := a.Lock(ctx, "n"); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		defer cancel()
		if err := c.Lock(cctx, "n"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Lock with an expiring context: %v", err)
		}
		_ = a.Unlock(ctx, "n")
	})
}

// TestLockOfACrashedHolder: a lock whose holder stopped renewing (a record
// left with its TTL) is free once it expires.
func TestLockOfACrashedHolder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		if _, err := st.Create(context.Background(), lockKey("x"), []byte("crashed"), store.WriteOptions{TTL: 100 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		s := New(st, Options{PollInterval: 10 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Lock(ctx, "x"); err != nil {
			t.Fatalf("Lock of an abandoned lock: %v", err)
		}
		_ = s.Unlock(ctx, "x")
	})
}

// TestUnlockLeavesAnotherHoldersLock: a holder whose lock expired and was
// taken by another does not delete the other's lock on Unlock.
func TestUnlockLeavesAnotherHoldersLock(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		a, c := New(st, Options{}), New(st, Options{})
		if err := a.Lock(ctx, "x"); err != nil {
			t.Fatal(err)
		}
		if err := st.Delete(ctx, lockKey("x"), 0); err != nil { // as if it had expired
			t.Fatal(err)
		}
		if ok, err := c.TryLock(ctx, "x"); !ok || err != nil {
			t.Fatalf("TryLock = %v, %v", ok, err)
		}
		if err := a.Unlock(ctx, "x"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := New(st, Options{}).TryLock(ctx, "x"); ok {
			t.Error("Unlock by the former holder removed the new holder's lock")
		}
		_ = c.Unlock(ctx, "x")
	})
}

// TestLockExcludes: goroutines of several Storages on one store never
// hold the same lock at once.
func TestLockExcludes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		var inside, entries atomic.Int32
		var wg sync.WaitGroup
		for i := range 3 {
			s := New(st, Options{PollInterval: time.Millisecond})
			wg.Add(2)
			for range 2 {
				go func() {
					defer wg.Done()
					for range 5 {
						if err := s.Lock(context.Background(), "order"); err != nil {
							t.Error(err)
							return
						}
						if n := inside.Add(1); n != 1 {
							t.Errorf("storage %d: %d holders at once", i, n)
						}
						entries.Add(1)
						time.Sleep(time.Millisecond)
						inside.Add(-1)
						if err := s.Unlock(context.Background(), "order"); err != nil {
							t.Error(err)
						}
					}
				}()
			}
		}
		wg.Wait()
		if entries.Load() != 30 {
			t.Errorf("%d entries, want 30", entries.Load())
		}
	})
}
