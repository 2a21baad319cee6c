package embedded

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/store"
)

// bucketLen counts the entries of a bucket.
func bucketLen(t *testing.T, s *Store, name []byte) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(name).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSweeperRemovesExpired(t *testing.T) {
	s, err := open(t.Context(), config.Embedded{Path: filepath.Join(t.TempDir(), "k.db")}, nil, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	short := store.WriteOptions{TTL: 50 * time.Millisecond, Indexes: []string{"a", "b"}}
	for _, k := range []string{"x/1", "x/2", "x/3"} {
		if _, err := s.Put(ctx, k, []byte("v"), short); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put(ctx, "kept", []byte("v"), store.WriteOptions{TTL: time.Hour, Indexes: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	// x/3 is rewritten without a TTL: its old expiry entry is gone with it.
	if _, err := s.Put(ctx, "x/3", []byte("v"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Incr(ctx, "n", 1, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	want := [4]int{2, 1, 1, 0} // kept and x/3; kept in a; kept's expiry; no counter
	testkit.Eventually(t, 3*time.Second, fmt.Sprintf("after sweeping: records, index entries, expiry entries, counters = %v", want), func() bool {
		s.cmu.Lock()
		counters := len(s.counters)
		s.cmu.Unlock()
		return [4]int{bucketLen(t, s, bucketRecords), bucketLen(t, s, bucketIndex), bucketLen(t, s, bucketExpiry), counters} == want
	})
}

func TestSweepBatches(t *testing.T) {
	s, err := open(t.Context(), config.Embedded{Path: filepath.Join(t.TempDir(), "k.db")}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = sweepBatch + 10
	err = s.db.Update(func(tx *bolt.Tx) error {
		for i := range n {
			r := rec{version: 1, expiresMs: 1000 + int64(i), indexes: []string{"i"}}
			if err := putRecord(tx, fmt.Sprintf("k/%04d", i), r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	removed, err := s.sweep(time.Now())
	if err != nil || removed != n {
		t.Fatalf("sweep: got (%d, %v), want (%d, nil)", removed, err, n)
	}
	for _, b := range [][]byte{bucketRecords, bucketIndex, bucketExpiry} {
		if got := bucketLen(t, s, b); got != 0 {
			t.Errorf("bucket %s after sweep: %d entries, want 0", b, got)
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	tests := []rec{
		{version: 1},
		{version: 7, expiresMs: 1700000000123, indexes: []string{"a", "user/alice"}, value: []byte("value")},
		{version: 1 << 40, value: []byte{0, 1, 2, 0xff}},
	}
	for _, want := range tests {
		got, err := decode(want.encode())
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", want, err)
		}
		if len(got.value) == 0 {
			got.value = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("decode(encode(r)): got %+v, want %+v", got, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(rec{version: 3, expiresMs: 5, indexes: []string{"i"}, value: []byte("v")}.encode())
	f.Add([]byte{formatV1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decode(b)
		if err != nil {
			return
		}
		again, err := decode(r.encode())
		if err != nil {
			t.Fatalf("decode(encode(decode(b))): %v", err)
		}
		if again.version != r.version || again.expiresMs != r.expiresMs || len(again.indexes) != len(r.indexes) || string(again.value) != string(r.value) {
			t.Fatalf("round trip changed the record: %+v then %+v", r, again)
		}
	})
}
