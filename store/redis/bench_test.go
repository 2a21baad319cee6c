package redis_test

import (
	"testing"
	"time"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/store"
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

// BenchmarkPutReplicated: a record write on a master with one replica,
// with replica_wait off (the write alone) and on (the write, then the
// marker and WAIT in one pipeline until the replica confirms). Compare the
// two sub-benchmarks' ns/op: the ratio is what a confirmed write costs.
func BenchmarkPutReplicated(b *testing.B) {
	master := redistest.Start(b, "--repl-diskless-sync-delay", "0")
	redistest.StartReplica(b, master)
	for _, tc := range []struct {
		name string
		wait time.Duration
	}{{"wait-off", -1}, {"wait-on", 100 * time.Millisecond}} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := redis.New(b.Context(), config.Redis{Addrs: []string{master.Addr()}, KeyPrefix: redistest.Prefix(b),
				ReadTimeout: time.Second, WriteTimeout: time.Second, ReplicaWait: tc.wait}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			value := []byte(`{"id":"c1","revoked":true}`)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Put(b.Context(), "cred/bench", value, store.WriteOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
