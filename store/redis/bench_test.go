package redis_test

import (
	"testing"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/store/redis"
	"github.com/keygate/keygate/store/storetest"
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

func BenchmarkGet(b *testing.B)    { storetest.BenchGet(b, benchStore(b)) }
func BenchmarkIncr(b *testing.B)   { storetest.BenchIncr(b, benchStore(b)) }
func BenchmarkStrike(b *testing.B) { storetest.BenchStrike(b, benchStore(b), 1<<50) }
