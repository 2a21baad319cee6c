package storetest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/store"
)

func testCreateGet(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	value := []byte("v1")
	v, err := s.Create(ctx, "user/alice", value, store.WriteOptions{})
	if err != nil || v != 1 {
		t.Fatalf("Create: got (%d, %v), want (1, nil)", v, err)
	}
	value[0] = 'X' // the store keeps its own copy
	r := mustGet(t, s, "user/alice")
	if r.Key != "user/alice" || string(r.Value) != "v1" || r.Version != 1 || !r.ExpiresAt.IsZero() {
		t.Fatalf("Get: got %+v, want key user/alice, value v1, version 1, no expiry", r)
	}
	r.Value[0] = 'Y' // and hands out copies
	if got := mustGet(t, s, "user/alice"); string(got.Value) != "v1" {
		t.Fatalf("Get after changing a returned value: got %q, want v1", got.Value)
	}
	_, err = s.Create(ctx, "user/alice", []byte("v2"), store.WriteOptions{})
	wantErr(t, "Create existing", err, store.ErrConflict)
	if got := mustGet(t, s, "user/alice"); string(got.Value) != "v1" || got.Version != 1 {
		t.Fatalf("Get after conflicting Create: got %q version %d, want v1 version 1", got.Value, got.Version)
	}
	_, err = s.Get(ctx, "user/bob")
	wantErr(t, "Get absent", err, store.ErrNotFound)

	if _, err := s.Create(ctx, "empty", nil, store.WriteOptions{}); err != nil {
		t.Fatalf("Create with empty value: %v", err)
	}
	if got := mustGet(t, s, "empty"); len(got.Value) != 0 {
		t.Fatalf("Get empty: got %q, want empty", got.Value)
	}
	big := bytes.Repeat([]byte{0, 0xff, '\n'}, store.MaxValueLen/3)
	if _, err := s.Put(ctx, "big", big, store.WriteOptions{}); err != nil {
		t.Fatalf("Put of %d bytes: %v", len(big), err)
	}
	if got := mustGet(t, s, "big"); !bytes.Equal(got.Value, big) {
		t.Fatalf("Get big: value of %d bytes differs from the %d written", len(got.Value), len(big))
	}
}

func testVersions(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	steps := []struct {
		call    string
		do      func() (int64, error)
		want    int64
		wantErr error
	}{
		{"Put absent", func() (int64, error) { return s.Put(ctx, "k", []byte("a"), store.WriteOptions{}) }, 1, nil},
		{"Put existing", func() (int64, error) { return s.Put(ctx, "k", []byte("b"), store.WriteOptions{}) }, 2, nil},
		{"Update at 2", func() (int64, error) { return s.Update(ctx, "k", []byte("c"), 2, store.WriteOptions{}) }, 3, nil},
		{"Update at stale 2", func() (int64, error) { return s.Update(ctx, "k", []byte("x"), 2, store.WriteOptions{}) }, 0, store.ErrConflict},
		{"Update at future 9", func() (int64, error) { return s.Update(ctx, "k", []byte("x"), 9, store.WriteOptions{}) }, 0, store.ErrConflict},
		{"Update at 0", func() (int64, error) { return s.Update(ctx, "k", []byte("x"), 0, store.WriteOptions{}) }, 0, store.ErrConflict},
		{"Update absent", func() (int64, error) { return s.Update(ctx, "absent", []byte("x"), 1, store.WriteOptions{}) }, 0, store.ErrNotFound},
		{"Create existing", func() (int64, error) { return s.Create(ctx, "k", []byte("x"), store.WriteOptions{}) }, 0, store.ErrConflict},
		{"Update at 3", func() (int64, error) { return s.Update(ctx, "k", []byte("d"), 3, store.WriteOptions{}) }, 4, nil},
	}
	for _, st := range steps {
		got, err := st.do()
		wantErr(t, st.call, err, st.wantErr)
		if got != st.want {
			t.Fatalf("%s: got version %d, want %d", st.call, got, st.want)
		}
	}
	if r := mustGet(t, s, "k"); string(r.Value) != "d" || r.Version != 4 {
		t.Fatalf("Get: got %q version %d, want d version 4", r.Value, r.Version)
	}
	if _, err := s.Get(ctx, "absent"); err == nil {
		t.Fatalf("Get absent after failed Update: found, want ErrNotFound")
	}
}

func testDelete(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	wantErr(t, "Delete absent", s.Delete(ctx, "k", 0), store.ErrNotFound)
	if _, err := s.Create(ctx, "k", []byte("a"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Delete at wrong version", s.Delete(ctx, "k", 2), store.ErrConflict)
	mustGet(t, s, "k")
	wantErr(t, "Delete at version 1", s.Delete(ctx, "k", 1), nil)
	_, err := s.Get(ctx, "k")
	wantErr(t, "Get deleted", err, store.ErrNotFound)
	wantErr(t, "Delete deleted", s.Delete(ctx, "k", 0), store.ErrNotFound)

	// A record created again starts over at version 1.
	v, err := s.Create(ctx, "k", []byte("b"), store.WriteOptions{})
	if err != nil || v != 1 {
		t.Fatalf("Create after Delete: got (%d, %v), want (1, nil)", v, err)
	}
	if _, err := s.Put(ctx, "k", []byte("c"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Delete any version", s.Delete(ctx, "k", 0), nil)
	_, err = s.Get(ctx, "k")
	wantErr(t, "Get deleted", err, store.ErrNotFound)
}

func testTTL(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	const ttl = 150 * time.Millisecond
	before := time.Now()
	if _, err := s.Create(ctx, "k", []byte("a"), store.WriteOptions{TTL: ttl}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	r := mustGet(t, s, "k")
	if lo, hi := before.Add(ttl).Add(-time.Millisecond), after.Add(ttl).Add(time.Millisecond); r.ExpiresAt.Before(lo) || r.ExpiresAt.After(hi) {
		t.Fatalf("ExpiresAt: got %v, want between %v and %v", r.ExpiresAt, lo, hi)
	}
	testkit.Eventually(t, 3*time.Second, "record with a TTL expired", func() bool {
		_, err := s.Get(ctx, "k")
		return err != nil
	})
	if now := time.Now(); now.Before(r.ExpiresAt) {
		t.Fatalf("record gone at %v, before its ExpiresAt %v", now, r.ExpiresAt)
	}
	_, err := s.Get(ctx, "k")
	wantErr(t, "Get expired", err, store.ErrNotFound)
	_, err = s.Update(ctx, "k", []byte("b"), 1, store.WriteOptions{})
	wantErr(t, "Update expired", err, store.ErrNotFound)
	wantErr(t, "Delete expired", s.Delete(ctx, "k", 0), store.ErrNotFound)
	v, err := s.Create(ctx, "k", []byte("c"), store.WriteOptions{})
	if err != nil || v != 1 {
		t.Fatalf("Create over an expired record: got (%d, %v), want (1, nil)", v, err)
	}

	if _, err := s.Put(ctx, "p", []byte("a"), store.WriteOptions{TTL: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 3*time.Second, "Put record expired", func() bool {
		_, err := s.Get(ctx, "p")
		return err != nil
	})
	if v, err := s.Put(ctx, "p", []byte("b"), store.WriteOptions{}); err != nil || v != 1 {
		t.Fatalf("Put over an expired record: got (%d, %v), want (1, nil)", v, err)
	}
}

func testWriteReplacesTTL(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	short := store.WriteOptions{TTL: 100 * time.Millisecond}
	for _, k := range []string{"update-none", "update-longer", "put-none"} {
		if _, err := s.Create(ctx, k, []byte("a"), short); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Update(ctx, "update-none", []byte("b"), 1, store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "update-longer", []byte("b"), 1, store.WriteOptions{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "put-none", []byte("b"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "shortened", []byte("a"), store.WriteOptions{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "shortened", []byte("b"), 1, short); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 3*time.Second, "record updated to a short TTL expired", func() bool {
		_, err := s.Get(ctx, "shortened")
		return err != nil
	})
	time.Sleep(100 * time.Millisecond) // well past the first TTL
	if r := mustGet(t, s, "update-none"); !r.ExpiresAt.IsZero() || r.Version != 2 {
		t.Errorf("update-none: got ExpiresAt %v version %d, want zero and 2", r.ExpiresAt, r.Version)
	}
	if r := mustGet(t, s, "update-longer"); time.Until(r.ExpiresAt) < 50*time.Minute {
		t.Errorf("update-longer: got ExpiresAt %v, want about an hour from now", r.ExpiresAt)
	}
	if r := mustGet(t, s, "put-none"); !r.ExpiresAt.IsZero() {
		t.Errorf("put-none: got ExpiresAt %v, want zero", r.ExpiresAt)
	}
}

func testList(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	write := func(key string, idx ...string) {
		t.Helper()
		if _, err := s.Put(ctx, key, []byte("v:"+key), store.WriteOptions{Indexes: idx}); err != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
	}
	list := func(index string) string {
		t.Helper()
		rs, err := s.List(ctx, index)
		if err != nil {
			t.Fatalf("List(%q): %v", index, err)
		}
		keys := make([]string, len(rs))
		for i, r := range rs {
			if string(r.Value) != "v:"+r.Key || r.Version < 1 {
				t.Fatalf("List(%q): record %q has value %q version %d", index, r.Key, r.Value, r.Version)
			}
			keys[i] = r.Key
		}
		return strings.Join(keys, " ")
	}
	check := func(when, index, want string) {
		t.Helper()
		if got := list(index); got != want {
			t.Fatalf("%s: List(%q) = [%s], want [%s]", when, index, got, want)
		}
	}
	write("cred/3", "user/alice", "all")
	write("cred/1", "user/alice", "all", "all") // duplicates are harmless
	write("cred/2", "user/alice", "all")
	write("cred/9", "user/bob", "all")
	write("other")
	check("after writes", "user/alice", "cred/1 cred/2 cred/3")
	check("after writes", "user/bob", "cred/9")
	check("after writes", "all", "cred/1 cred/2 cred/3 cred/9")
	check("unknown index", "user/carol", "")

	// An Update replaces the indexes.
	if _, err := s.Update(ctx, "cred/2", []byte("v:cred/2"), 1, store.WriteOptions{Indexes: []string{"user/bob"}}); err != nil {
		t.Fatal(err)
	}
	check("after moving cred/2", "user/alice", "cred/1 cred/3")
	check("after moving cred/2", "user/bob", "cred/2 cred/9")
	check("after moving cred/2", "all", "cred/1 cred/3 cred/9")
	// So does a Put, and a write without indexes removes them all.
	write("cred/3")
	check("after unlisting cred/3", "user/alice", "cred/1")
	if err := s.Delete(ctx, "cred/1", 0); err != nil {
		t.Fatal(err)
	}
	check("after deleting cred/1", "user/alice", "")
	check("after deleting cred/1", "all", "cred/9")
	// Listed again after being unlisted.
	write("cred/3", "user/alice")
	check("after relisting cred/3", "user/alice", "cred/3")
	// Listing twice changes nothing.
	check("listing again", "user/bob", "cred/2 cred/9")
}

func testListExpiry(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	opts := func(ttl time.Duration) store.WriteOptions {
		return store.WriteOptions{TTL: ttl, Indexes: []string{"sessions"}}
	}
	for k, ttl := range map[string]time.Duration{"s/short": 100 * time.Millisecond, "s/long": time.Hour, "s/none": 0} {
		if _, err := s.Create(ctx, k, []byte("v"), opts(ttl)); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 3*time.Second, "expired record no longer listed", func() bool {
		rs, err := s.List(ctx, "sessions")
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		keys := make([]string, len(rs))
		for i, r := range rs {
			keys[i] = r.Key
		}
		return strings.Join(keys, " ") == "s/long s/none"
	})
	// Recreated after expiry, it is listed again.
	if _, err := s.Create(ctx, "s/short", []byte("v"), opts(time.Hour)); err != nil {
		t.Fatal(err)
	}
	rs, err := s.List(ctx, "sessions")
	if err != nil || len(rs) != 3 {
		t.Fatalf("List after recreating: got %d records (%v), want 3", len(rs), err)
	}
}

func testInvalidInput(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	bad := []string{"", "has space", "tab\tkey", "brace{x}", "close}", "del\x7f", "nl\n", "é", strings.Repeat("a", store.MaxKeyLen+1)}
	for _, key := range bad {
		calls := calls(s, ctx, key)
		delete(calls, "Ping") // takes no key
		calls["Create"] = func() error { _, err := s.Create(ctx, key, nil, store.WriteOptions{}); return err }
		calls["List"] = func() error { _, err := s.List(ctx, key); return err }
		calls["Put index"] = func() error {
			_, err := s.Put(ctx, "ok", nil, store.WriteOptions{Indexes: []string{"fine", key}})
			return err
		}
		for name, call := range calls {
			wantErr(t, fmt.Sprintf("%s(%q)", name, key), call(), store.ErrInvalidKey)
		}
	}
	if _, err := s.Get(ctx, "ok"); err == nil {
		t.Fatalf("Put with a bad index name wrote the record")
	}
	if _, err := s.Put(ctx, strings.Repeat("a", store.MaxKeyLen), nil, store.WriteOptions{Indexes: []string{strings.Repeat("i", store.MaxKeyLen)}}); err != nil {
		t.Fatalf("Put with key and index of MaxKeyLen: %v", err)
	}

	tooBig := make([]byte, store.MaxValueLen+1)
	_, err := s.Create(ctx, "big", tooBig, store.WriteOptions{})
	wantErr(t, "Create oversize", err, store.ErrValueTooLarge)
	_, err = s.Put(ctx, "big", tooBig, store.WriteOptions{})
	wantErr(t, "Put oversize", err, store.ErrValueTooLarge)
	_, err = s.Get(ctx, "big")
	wantErr(t, "Get after oversize writes", err, store.ErrNotFound)
	if _, err := s.Put(ctx, "neg", nil, store.WriteOptions{TTL: -time.Second}); err == nil {
		t.Fatalf("Put with a negative TTL: no error")
	}
}

func testKeySpaces(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	const key = "shared/key"
	if _, err := s.Create(ctx, key, []byte("record"), store.WriteOptions{Indexes: []string{key}}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Incr(ctx, key, 7, 0); err != nil || n != 7 {
		t.Fatalf("Incr beside a record: got (%d, %v), want (7, nil)", n, err)
	}
	if st, _, err := s.Strike(ctx, key, 5); err != nil || st.Count != 1 {
		t.Fatalf("Strike beside a record and a counter: got (%+v, %v), want count 1", st, err)
	}
	if r := mustGet(t, s, key); string(r.Value) != "record" || r.Version != 1 {
		t.Fatalf("Get: got %q version %d, want record version 1", r.Value, r.Version)
	}
	if err := s.ResetCounter(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearStrikes(ctx, key); err != nil {
		t.Fatal(err)
	}
	if rs, err := s.List(ctx, key); err != nil || len(rs) != 1 {
		t.Fatalf("List after clearing counter and strikes: got %d records (%v), want 1", len(rs), err)
	}
}
