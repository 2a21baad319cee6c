package redis_test

import (
	"testing"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/redis"
)

// benchStore is a store on a private server (or KEYGATE_TEST_REDIS_ADDR).
func benchStore(b *testing.B) *redis.Store {
	b.Helper()
	s, err := redis.New(b.Context(), config.Redis{
		Addrs:     []string{redistest.Addr(b)},
		KeyPrefix: redistest.Prefix(b),
	}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkGet(b *testing.B) {
	s := benchStore(b)
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
	s := benchStore(b)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Incr(ctx, "rate/alice", 1, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStrike(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Strike(ctx, "token/alice", 1<<50); err != nil {
			b.Fatal(err)
		}
	}
}
