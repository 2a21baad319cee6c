package storemetrics_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/embedded"
	redisstore "github.com/keygate/keygate/store/redis"
	"github.com/keygate/keygate/store/storemetrics"
	"github.com/keygate/keygate/store/storetest"
)

func openEmbedded(t *testing.T) store.Store {
	t.Helper()
	s, err := embedded.Open(t.Context(), config.Embedded{Path: filepath.Join(t.TempDir(), "k.db")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wrap(t *testing.T, s store.Store, reg prometheus.Registerer) *storemetrics.Store {
	t.Helper()
	w, err := storemetrics.Wrap(s, reg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestConformance: the wrapper changes nothing the store's contract says.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{New: func(t *testing.T) store.Store { return wrap(t, openEmbedded(t), nil) }})
}

// TestOperationMetrics: each call is timed under its operation, and its
// error counted by kind: not_found and conflict on an embedded store,
// unavailable once a real redis-server is stopped.
func TestOperationMetrics(t *testing.T) {
	ctx := t.Context()
	reg := prometheus.NewRegistry()
	s := wrap(t, openEmbedded(t), reg)
	defer s.Close()
	if _, err := s.Get(ctx, "rec/missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a missing key: %v", err)
	}
	if _, err := s.Create(ctx, "rec/a", []byte("1"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "rec/a", []byte("2"), store.WriteOptions{}); err == nil {
		t.Fatal("second Create of the same key succeeded")
	}
	if _, err := s.Get(ctx, "rec/a"); err != nil {
		t.Fatal(err)
	}
	if got := histogramCount(t, reg, "get"); got != 2 {
		t.Errorf(`keygate_store_operation_duration_seconds_count{op="get"} = %d, want 2`, got)
	}
	for _, c := range []struct {
		op, kind string
		want     float64
	}{{"get", "not_found", 1}, {"create", "conflict", 1}, {"create", "unavailable", 0}} {
		if got := counter(t, reg, c.op, c.kind); got != c.want {
			t.Errorf(`keygate_store_operation_errors_total{op=%q,error=%q} = %v, want %v`, c.op, c.kind, got, c.want)
		}
	}

	srv := redistest.Start(t)
	rreg := prometheus.NewRegistry()
	rs, err := redisstore.New(ctx, config.Redis{Addrs: []string{srv.Addr()}, KeyPrefix: redistest.Prefix(t),
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := wrap(t, rs, rreg)
	defer r.Close()
	srv.Stop()
	if err := r.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping with Redis stopped: %v, want ErrUnavailable", err)
	}
	if got := counter(t, rreg, "ping", "unavailable"); got != 1 {
		t.Errorf(`keygate_store_operation_errors_total{op="ping",error="unavailable"} = %v, want 1`, got)
	}
}

func histogramCount(t *testing.T, reg *prometheus.Registry, op string) uint64 {
	t.Helper()
	_, n := sample(t, reg, "keygate_store_operation_duration_seconds", map[string]string{"op": op})
	return n
}

func counter(t *testing.T, reg *prometheus.Registry, op, kind string) float64 {
	t.Helper()
	v, _ := sample(t, reg, "keygate_store_operation_errors_total", map[string]string{"op": op, "error": kind})
	return v
}

// sample finds the sample of the metric name whose labels include want and
// returns its value if it is a counter, its count if it is a histogram.
func sample(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) (value float64, count uint64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	samples:
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			for k, v := range want {
				if l[k] != v {
					continue samples
				}
			}
			return m.GetCounter().GetValue(), m.GetHistogram().GetSampleCount()
		}
	}
	t.Fatalf("no %s with labels %v", name, want)
	return 0, 0
}
