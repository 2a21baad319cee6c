package authz

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/store"
)

// counted is a record of the repository tests: a count and the indexes it
// is listed under.
type counted struct {
	N    int    `json:"n"`
	List string `json:"list"`
	// Fail makes its encoding fail.
	Fail bool `json:"-"`
}

func (c counted) MarshalJSON() ([]byte, error) {
	if c.Fail {
		return nil, errors.New("cannot encode")
	}
	type plain counted
	return json.Marshal(plain(c))
}

var errNoCount = errors.New("no such count")

func countRepo(st store.Store) repo[counted] {
	return repo[counted]{st: st,
		key: func(id string) string { return "count/" + id },
		opts: func(c *counted, _ store.Record) store.WriteOptions {
			return store.WriteOptions{Indexes: []string{"counts/" + c.List}}
		},
		missing: func(id string) error { return fmt.Errorf("%w: %q", errNoCount, id) },
	}
}

// TestRepoUpdateRace: concurrent updates of one record, on both stores,
// each land once: the compare-and-set loop reads again after a conflict
// instead of overwriting.
func TestRepoUpdateRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		r := countRepo(st)
		if err := r.create(ctx, "a", &counted{List: "x"}); err != nil {
			t.Fatal(err)
		}
		if err := r.create(ctx, "a", &counted{List: "x"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("create again: %v, want store.ErrConflict", err)
		}
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = r.update(ctx, "a", func(c *counted) error { c.N++; return nil })
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		got, version, err := r.get(ctx, "a")
		if err != nil || got.N != n || version != n+1 {
			t.Fatalf("after %d updates: %+v version %d, %v; want n=%d version %d", n, got, version, err, n, n+1)
		}
		if list, err := r.list(ctx, "counts/x"); err != nil || len(list) != 1 || list[0].N != n {
			t.Errorf("list: %+v, %v; want the one record", list, err)
		}
	})
}

// TestRepoErrors: a missing record is the repository's own error, a
// change's error ends the update unwritten, errUnchanged writes nothing
// and is no error, and an encoding failure is returned, never ignored.
func TestRepoErrors(t *testing.T) {
	ctx := t.Context()
	st := backends["embedded"](t)
	r := countRepo(st)
	if _, _, err := r.get(ctx, "none"); !errors.Is(err, errNoCount) {
		t.Errorf("get of a missing record: %v, want errNoCount", err)
	}
	if _, err := r.update(ctx, "none", func(*counted) error { return nil }); !errors.Is(err, errNoCount) {
		t.Errorf("update of a missing record: %v, want errNoCount", err)
	}
	if err := r.create(ctx, "a", &counted{N: 1}); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused")
	if _, err := r.update(ctx, "a", func(c *counted) error { c.N = 99; return refused }); !errors.Is(err, refused) {
		t.Errorf("update whose change fails: %v, want its error", err)
	}
	got, err := r.update(ctx, "a", func(c *counted) error { c.N = 99; return errUnchanged })
	if err != nil || got.N != 99 {
		t.Errorf("unchanged update: %+v, %v; want the changed copy and no error", got, err)
	}
	if got, version, _ := r.get(ctx, "a"); got.N != 1 || version != 1 {
		t.Errorf("after a refused and an unchanged update: %+v version %d; want n=1 version 1 (nothing written)", got, version)
	}
	if err := r.create(ctx, "b", &counted{Fail: true}); err == nil {
		t.Errorf("create of an unencodable record: %v, want an error", err)
	}
	if _, _, err := r.get(ctx, "b"); !errors.Is(err, errNoCount) {
		t.Errorf("unencodable record was written: %v", err)
	}
	if _, err := r.update(ctx, "a", func(c *counted) error { c.Fail = true; return nil }); err == nil {
		t.Error("update to an unencodable record: no error")
	}
	if _, err := st.Put(ctx, "count/bad", []byte("{"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.get(ctx, "bad"); err == nil {
		t.Error("get of an undecodable record: no error")
	}
}

// TestRepoRefsRaw: a repository of strings stores them as they are (the
// pointer records a store written before the repository holds), and the
// secrets repository keeps a rewritten record's expiry.
func TestRepoRefsRaw(t *testing.T) {
	ctx := t.Context()
	st := backends["embedded"](t)
	db := newRecords(st)
	id := "cred_x"
	if err := db.refs.create(ctx, handleKey("alice", "ci"), &id); err != nil {
		t.Fatal(err)
	}
	if rec, err := st.Get(ctx, handleKey("alice", "ci")); err != nil || string(rec.Value) != id {
		t.Errorf("stored ref: %q, %v; want the bytes %q", rec.Value, err, id)
	}
	exp := time.Now().Add(time.Hour)
	if err := db.secrets.create(ctx, "dig/k/00", &secretRecord{CredentialID: "c", ExpiresMs: exp.UnixMilli()}); err != nil {
		t.Fatal(err)
	}
	before, _ := st.Get(ctx, "dig/k/00")
	if _, err := db.secrets.update(ctx, "dig/k/00", func(r *secretRecord) error { r.Status = StatusRevoked; return nil }); err != nil {
		t.Fatal(err)
	}
	after, _ := st.Get(ctx, "dig/k/00")
	if before.ExpiresAt.IsZero() || after.ExpiresAt.Sub(before.ExpiresAt).Abs() > time.Second {
		t.Errorf("expiry %v after the update, %v before; want it kept", after.ExpiresAt, before.ExpiresAt)
	}
}
