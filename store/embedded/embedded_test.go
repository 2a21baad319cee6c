package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/embedded"
	"github.com/keygate/keygate/store/storetest"
)

func TestConformance(t *testing.T) {
	var paths sync.Map // store.Store → its file
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) store.Store {
			path := filepath.Join(t.TempDir(), "keygate.db")
			s := openAt(t, path)
			paths.Store(s, path)
			return s
		},
		Reopen: func(t *testing.T, s store.Store) store.Store {
			path, _ := paths.Load(s)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return openAt(t, path.(string))
		},
		CountersSurviveReopen: false, // counters live in memory
	})
}

func openAt(t testing.TB, path string) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(context.Background(), config.Embedded{Path: path}, nil)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	return s
}

func TestOpenLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keygate.db")
	s := openAt(t, path)
	defer s.Close()
	start := time.Now()
	second, err := embedded.Open(t.Context(), config.Embedded{Path: path}, nil)
	if err == nil {
		second.Close()
		t.Fatalf("second Open of a locked file: no error")
	}
	if !errors.Is(err, embedded.ErrLocked) {
		t.Errorf("second Open: got %v, want ErrLocked", err)
	}
	want := fmt.Sprintf("opening embedded store %q: file is locked by another process (is another keygate running?)", path)
	if err.Error() != want {
		t.Errorf("second Open: got message %q, want %q", err, want)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("second Open took %s, want about 1s", took)
	}
	// Once the first one is closed the file opens again.
	s.Close()
	openAt(t, path).Close()
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		ctx  func() context.Context
		path string
		want error
	}{
		{"missing directory", context.Background, filepath.Join(dir, "no", "such", "dir", "k.db"), nil},
		{"directory as file", context.Background, dir, nil},
		{"cancelled", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, filepath.Join(dir, "k.db"), context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := embedded.Open(tc.ctx(), config.Embedded{Path: tc.path}, nil)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q): no error", tc.path)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Open(%q): got %v, want %v", tc.path, err, tc.want)
			}
		})
	}
}

func TestRecordsSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keygate.db")
	ctx := t.Context()
	s := openAt(t, path)
	if _, err := s.Create(ctx, "kept", []byte("v"), store.WriteOptions{Indexes: []string{"idx"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "brief", []byte("v"), store.WriteOptions{TTL: 50 * time.Millisecond, Indexes: []string{"idx"}}); err != nil {
		t.Fatal(err)
	}
	if _, tripped, err := s.Strike(ctx, "token/t", 1); err != nil || !tripped {
		t.Fatalf("Strike: got (%v, %v), want tripped", tripped, err)
	}
	s.Close()
	time.Sleep(60 * time.Millisecond) // brief expires while nothing runs

	s = openAt(t, path)
	defer s.Close()
	if r, err := s.Get(ctx, "kept"); err != nil || string(r.Value) != "v" || r.Version != 1 {
		t.Fatalf("Get kept after reopen: got (%+v, %v), want v version 1", r, err)
	}
	if _, err := s.Get(ctx, "brief"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get expired after reopen: got %v, want ErrNotFound", err)
	}
	if rs, err := s.List(ctx, "idx"); err != nil || len(rs) != 1 || rs[0].Key != "kept" {
		t.Fatalf("List after reopen: got (%v, %v), want [kept]", rs, err)
	}
	if st, err := s.Strikes(ctx, "token/t"); err != nil || !st.Tripped {
		t.Fatalf("Strikes after reopen: got (%+v, %v), want tripped", st, err)
	}
}
