package storetest

import (
	"testing"

	"github.com/keygate/keygate/store"
)

// The store's hot calls, benchmarked the same way on every implementation:
// each package's BenchmarkGet, BenchmarkIncr and BenchmarkStrike hand s to
// these.

// BenchGet reads one 256-byte record with one index.
func BenchGet(b *testing.B, s store.Store) {
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

// BenchIncr counts on one counter without a TTL.
func BenchIncr(b *testing.B, s store.Store) {
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Incr(ctx, "rate/alice", 1, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchStrike strikes one key against a limit it never reaches (limit).
func BenchStrike(b *testing.B, s store.Store, limit int64) {
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Strike(ctx, "token/alice", limit); err != nil {
			b.Fatal(err)
		}
	}
}
