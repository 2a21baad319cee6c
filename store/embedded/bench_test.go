package embedded_test

import (
	"path/filepath"
	"testing"

	"github.com/keygate/keygate/store"
)

func BenchmarkGet(b *testing.B) {
	s := openAt(b, filepath.Join(b.TempDir(), "keygate.db"))
	defer s.Close()
	ctx := b.Context()
	value := make([]byte, 256)
	if _, err := s.Put(ctx, "cred/0123456789abcdef", value, store.WriteOptions{Indexes: []string{"user/alice"}}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, "cred/0123456789abcdef"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIncr(b *testing.B) {
	s := openAt(b, filepath.Join(b.TempDir(), "keygate.db"))
	defer s.Close()
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Incr(ctx, "rate/alice", 1, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStrike(b *testing.B) {
	s := openAt(b, filepath.Join(b.TempDir(), "keygate.db"))
	defer s.Close()
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Strike(ctx, "token/alice", 1<<62); err != nil {
			b.Fatal(err)
		}
	}
}
