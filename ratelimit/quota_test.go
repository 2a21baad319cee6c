package ratelimit

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/embedded"
	redisstore "github.com/keygate/keygate/store/redis"
)

func TestPeriod(t *testing.T) {
	for _, c := range []struct {
		per, at, id, end string
	}{
		{"day", "2026-12-01T23:59:59.999Z", "2026-12-01", "2026-12-02T00:00:00Z"},
		{"day", "2026-12-31T10:00:00+05:00", "2026-12-31", "2027-01-01T00:00:00Z"},
		{"day", "2026-12-31T22:00:00-05:00", "2027-01-01", "2027-01-02T00:00:00Z"}, // UTC decides
		{"month", "2026-12-15T00:00:00Z", "2026-12", "2027-01-01T00:00:00Z"},
		{"month", "2028-02-29T12:00:00Z", "2028-02", "2028-03-01T00:00:00Z"},
	} {
		at, _ := time.Parse(time.RFC3339Nano, c.at)
		id, end := Period(c.per, at)
		if id != c.id || end.Format(time.RFC3339) != c.end {
			t.Errorf("Period(%s, %s) = %s, %s; want %s, %s", c.per, c.at, id, end.Format(time.RFC3339), c.id, c.end)
		}
	}
}

// TestQuotaCounting: Take counts per credential, scope and period in
// both stores; Give takes one back; a new period starts at zero; Usage
// reports the quotas that count a credential.
func TestQuotaCounting(t *testing.T) {
	emb, err := embedded.Open(t.Context(), config.Embedded{Path: filepath.Join(t.TempDir(), "k.db")}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb.Close() })
	rs, err := redisstore.New(t.Context(), config.Redis{Addrs: []string{redistest.Addr(t)}, KeyPrefix: redistest.Prefix(t), DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	for name, st := range map[string]store.Store{"embedded": emb, "redis": rs} {
		t.Run(name, func(t *testing.T) {
			var now atomic.Pointer[time.Time]
			set := func(s string) { at, _ := time.Parse(time.RFC3339, s); now.Store(&at) }
			set("2026-12-31T23:59:00Z")
			q := NewQuotas(st, func() time.Time { return *now.Load() })
			for i := range 3 {
				if n, end, err := q.Take(t.Context(), "s:orders", "cred_a", "day"); err != nil || n != int64(i+1) || end.Format(time.RFC3339) != "2027-01-01T00:00:00Z" {
					t.Fatalf("take %d: %d, %v, %v", i+1, n, end, err)
				}
			}
			if err := q.Give(t.Context(), "s:orders", "cred_a", "day"); err != nil {
				t.Fatal(err)
			}
			if n, _, _ := q.Take(t.Context(), "s:orders", "cred_b", "day"); n != 1 {
				t.Errorf("another credential: %d, want 1", n)
			}
			if n, _, _ := q.Take(t.Context(), "r:orders", "cred_a", "day"); n != 1 {
				t.Errorf("another scope: %d, want 1", n)
			}
			cfg := &config.Config{
				Routes:  []config.Route{{Name: "orders", APISet: "orders", Quota: &config.Quota{Requests: 10, Per: "day"}}, {Name: "other", APISet: "other", Quota: &config.Quota{Requests: 1, Per: "day"}}},
				APISets: map[string]config.APISet{"orders": {Quota: &config.Quota{Requests: 5, Per: "day"}}},
			}
			u, err := q.Usage(t.Context(), cfg, "cred_a", []string{"orders"}, nil)
			if err != nil || len(u) != 2 || u[0].Scope != "route:orders" || u[0].Used != 1 || u[0].Remaining != 9 ||
				u[1].Scope != "apiSet:orders" || u[1].Used != 2 || u[1].Remaining != 3 {
				t.Errorf("usage: %+v, %v", u, err)
			}
			own := int64(1)
			if u, _ := q.Usage(t.Context(), cfg, "cred_a", []string{"orders"}, &own); len(u) != 2 || u[1].Requests != 1 || u[1].Remaining != 0 {
				t.Errorf("usage with the credential's own quota of 1: %+v", u)
			}

			set("2027-01-01T00:00:01Z")
			if n, end, _ := q.Take(t.Context(), "s:orders", "cred_a", "day"); n != 1 || end.Format(time.RFC3339) != "2027-01-02T00:00:00Z" {
				t.Errorf("the next day: %d (period end %v), want 1", n, end)
			}
		})
	}
}
