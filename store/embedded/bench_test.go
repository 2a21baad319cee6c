package embedded_test

import (
	"path/filepath"
	"testing"

	"github.com/keygate/keygate/store/embedded"
	"github.com/keygate/keygate/store/storetest"
)

// benchStore is a store on a fresh file, closed when b ends.
func benchStore(b *testing.B) *embedded.Store {
	s := openAt(b, filepath.Join(b.TempDir(), "keygate.db"))
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkGet(b *testing.B)    { storetest.BenchGet(b, benchStore(b)) }
func BenchmarkIncr(b *testing.B)   { storetest.BenchIncr(b, benchStore(b)) }
func BenchmarkStrike(b *testing.B) { storetest.BenchStrike(b, benchStore(b), 1<<62) }
